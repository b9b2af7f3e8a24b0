// File: common/status_macros.h
// -----------------------------------------------------------------------------
// RETURN_IF_ERROR and ASSIGN_OR_RETURN, which Abseil 20220623 does not ship.
//
// Example:
//   absl::StatusOr<Plan> Build(const Topology& t) {
//     RETURN_IF_ERROR(Validate(t));
//     ASSIGN_OR_RETURN(Mapping mapping, MapRanks(t));
//     return Plan{std::move(mapping)};
//   }
#ifndef PARAMSYNC_COMMON_STATUS_MACROS_H_
#define PARAMSYNC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PARAMSYNC_CONCAT_INNER_(a, b) a##b
#define PARAMSYNC_CONCAT_(a, b) PARAMSYNC_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status paramsync_status_ = (expr);             \
    if (!paramsync_status_.ok()) return paramsync_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from the
// enclosing function, otherwise moves the value into `lhs` (a declaration or an
// existing variable).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  PARAMSYNC_ASSIGN_OR_RETURN_IMPL_(PARAMSYNC_CONCAT_(paramsync_statusor_, __LINE__), lhs, rexpr)

#define PARAMSYNC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = std::move(statusor).value()

#endif  // PARAMSYNC_COMMON_STATUS_MACROS_H_
