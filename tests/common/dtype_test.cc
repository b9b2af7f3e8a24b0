#include "common/dtype.h"

#include <catch2/catch.hpp>
#include <vector>

namespace paramsync {
namespace {

TEST_CASE("DType names round-trip and sizes are right", "[dtype]") {
  for (auto [name, size] : {std::pair{"float32", 4},
                            {"bfloat16", 2},
                            {"float16", 2},
                            {"float64", 8},
                            {"int8", 1},
                            {"uint8", 1},
                            {"int32", 4},
                            {"int64", 8}}) {
    absl::StatusOr<v1::DType> dtype = DTypeFromName(name);
    REQUIRE(dtype.ok());
    CHECK(DTypeName(*dtype) == name);
    CHECK(DTypeSize(*dtype) == size);
  }
  absl::StatusOr<v1::DType> unknown = DTypeFromName("complex64");
  CHECK(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(unknown.status().message()).find("accepted: float32") != std::string::npos);
}

TEST_CASE("TensorBytes refuses negative, unknown and absurd shapes", "[dtype]") {
  CHECK(*TensorBytes(v1::DTYPE_BFLOAT16, std::vector<int64_t>{3, 5}) == 30);
  CHECK(*TensorBytes(v1::DTYPE_FLOAT32, std::vector<int64_t>{}) == 4);
  CHECK(TensorBytes(v1::DTYPE_FLOAT32, std::vector<int64_t>{2, -1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TensorBytes(v1::DTYPE_UNSPECIFIED, std::vector<int64_t>{2}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(
      TensorBytes(v1::DTYPE_FLOAT32, std::vector<int64_t>{1LL << 40, 1LL << 40}).status().code() ==
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paramsync
