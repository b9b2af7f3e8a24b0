#include "common/shared_memory.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

namespace paramsync {
namespace {

std::string UniqueName(const char* tag) {
  return "/paramsync-test-" + std::to_string(getpid()) + "-" + tag;
}

TEST_CASE("A region opened by name shares bytes with its creator", "[shared_memory]") {
  const std::string name = UniqueName("share");
  absl::StatusOr<SharedMemoryRegion> created = SharedMemoryRegion::Create(name, 4096);
  REQUIRE(created.ok());
  absl::StatusOr<SharedMemoryRegion> opened = SharedMemoryRegion::Open(name);
  REQUIRE(opened.ok());
  CHECK(opened->size() == 4096);
  std::memcpy(created->data(), "weights", 8);
  CHECK(std::strcmp(static_cast<const char*>(opened->data()), "weights") == 0);
  static_cast<char*>(opened->data())[0] = 'W';
  CHECK(static_cast<const char*>(created->data())[0] == 'W');
}

TEST_CASE("The creator unlinks the name; existing mappings stay valid", "[shared_memory]") {
  const std::string name = UniqueName("unlink");
  absl::StatusOr<SharedMemoryRegion> opened = absl::NotFoundError("unset");
  {
    absl::StatusOr<SharedMemoryRegion> created = SharedMemoryRegion::Create(name, 64);
    REQUIRE(created.ok());
    opened = SharedMemoryRegion::Open(name);
    REQUIRE(opened.ok());
    static_cast<char*>(created->data())[3] = 42;
  }
  CHECK(static_cast<const char*>(opened->data())[3] == 42);
  CHECK(SharedMemoryRegion::Open(name).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Creating a taken name or a zero-size region fails", "[shared_memory]") {
  const std::string name = UniqueName("taken");
  absl::StatusOr<SharedMemoryRegion> first = SharedMemoryRegion::Create(name, 64);
  REQUIRE(first.ok());
  CHECK(SharedMemoryRegion::Create(name, 64).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(SharedMemoryRegion::Create(UniqueName("zero"), 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paramsync

namespace paramsync {
namespace {

TEST_CASE("Unlink removes a dead creator's name; mappings stay valid", "[shared_memory]") {
  const std::string name = UniqueName("orphan");
  absl::StatusOr<SharedMemoryRegion> created = SharedMemoryRegion::Create(name, 64);
  REQUIRE(created.ok());
  absl::StatusOr<SharedMemoryRegion> opened = SharedMemoryRegion::Open(name);
  REQUIRE(opened.ok());
  static_cast<char*>(created->data())[0] = 7;
  REQUIRE(SharedMemoryRegion::Unlink(name).ok());
  CHECK(SharedMemoryRegion::Open(name).status().code() == absl::StatusCode::kNotFound);
  CHECK(static_cast<const char*>(opened->data())[0] == 7);
  CHECK(SharedMemoryRegion::Unlink(name).ok());  // Already gone: still OK.
}

}  // namespace
}  // namespace paramsync
