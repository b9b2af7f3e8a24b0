#include "common/config_file.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"

// Flags standing in for a daemon's.
ABSL_FLAG(std::string, test_listen, "127.0.0.1:1", "an address");
ABSL_FLAG(int, test_interval_ms, 1000, "an int");
ABSL_FLAG(bool, test_insecure, false, "a bool");
ABSL_FLAG(std::string, test_path, "", "a path");

namespace paramsync {
namespace {

void ResetFlags() {
  absl::SetFlag(&FLAGS_test_listen, "127.0.0.1:1");
  absl::SetFlag(&FLAGS_test_interval_ms, 1000);
  absl::SetFlag(&FLAGS_test_insecure, false);
  absl::SetFlag(&FLAGS_test_path, "");
}

std::string TempFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<std::vector<ConfigEntry>> parsed = ParseConfig("d.conf", text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

std::string ApplyError(const std::string& text) {
  absl::StatusOr<std::vector<ConfigEntry>> parsed = ParseConfig("d.conf", text);
  REQUIRE(parsed.ok());
  const absl::Status applied = ApplyConfig("d.conf", *parsed);
  REQUIRE_FALSE(applied.ok());
  CHECK(applied.code() == absl::StatusCode::kInvalidArgument);
  return std::string(applied.message());
}

TEST_CASE("A config file sets the flags its keys name, with comments and blank lines",
          "[config_file]") {
  ResetFlags();
  const std::string path = TempFile("good.conf",
                                    "# a daemon\r\n"
                                    "\n"
                                    "  test_listen = 0.0.0.0:50051   # all interfaces\r\n"
                                    "test_interval_ms=250\n"
                                    "test_insecure = yes\n"
                                    "test_path = /var/lib/x#1\n");
  const absl::Status loaded = LoadConfigFile(path);
  INFO(loaded.ToString());
  REQUIRE(loaded.ok());
  CHECK(absl::GetFlag(FLAGS_test_listen) == "0.0.0.0:50051");
  CHECK(absl::GetFlag(FLAGS_test_interval_ms) == 250);
  CHECK(absl::GetFlag(FLAGS_test_insecure));
  // A # inside a value (not after whitespace) is part of it.
  CHECK(absl::GetFlag(FLAGS_test_path) == "/var/lib/x#1");
}

TEST_CASE("An empty value sets an empty string", "[config_file]") {
  ResetFlags();
  absl::SetFlag(&FLAGS_test_path, "/somewhere");
  absl::StatusOr<std::vector<ConfigEntry>> parsed = ParseConfig("d.conf", "test_path =\n");
  REQUIRE(parsed.ok());
  REQUIRE(ApplyConfig("d.conf", *parsed).ok());
  CHECK(absl::GetFlag(FLAGS_test_path).empty());
}

TEST_CASE("Entries keep their line numbers", "[config_file]") {
  absl::StatusOr<std::vector<ConfigEntry>> parsed =
      ParseConfig("d.conf", "# x\n\ntest_listen = a\ntest_path = b");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0].key == "test_listen");
  CHECK((*parsed)[0].value == "a");
  CHECK((*parsed)[0].line == 3);
  CHECK((*parsed)[1].line == 4);
}

TEST_CASE("Syntax errors name the file, the line and what is wrong", "[config_file]") {
  CHECK(ErrorOf("test_listen 0.0.0.0:1\n") ==
        "d.conf:1: expected \"key = value\", got \"test_listen 0.0.0.0:1\"");
  CHECK(ErrorOf("\n = 5\n") ==
        "d.conf:2: bad key \"\" (a flag name: letters, digits and underscores)");
  CHECK(ErrorOf("test listen = 5\n") ==
        "d.conf:1: bad key \"test listen\" (a flag name: letters, digits and underscores)");
  CHECK(ErrorOf("--test_listen = 5\n") ==
        "d.conf:1: key \"--test_listen\": write the flag's name without the leading dashes");
  CHECK(ErrorOf("test_listen = a\n# c\ntest_listen = b\n") ==
        "d.conf:3: duplicate key \"test_listen\" (first set on line 1)");
}

TEST_CASE("Every bad line is reported, one per line of the message", "[config_file]") {
  CHECK(ErrorOf("a\ntest_path = x\nb\n") ==
        "d.conf:1: expected \"key = value\", got \"a\"\n"
        "d.conf:3: expected \"key = value\", got \"b\"");
}

TEST_CASE("An unknown key is refused, listing the known ones", "[config_file]") {
  const std::string message = ApplyError("test_lisen = 1\n");
  INFO(message);
  CHECK(absl::StartsWith(message, "d.conf:1: unknown key \"test_lisen\" (known: "));
  CHECK(absl::StrContains(message, "test_insecure, test_interval_ms, test_listen, test_path"));
}

TEST_CASE("Abseil's own flags and `config` are not keys", "[config_file]") {
  for (const std::string key : {"flagfile", "fromenv", "undefok", "help", "config"}) {
    const std::string message = ApplyError(key + " = x\n");
    INFO(message);
    CHECK(absl::StartsWith(message, "d.conf:1: unknown key \"" + key + "\""));
    CHECK_FALSE(absl::StrContains(message, "flagfile,"));
  }
}

TEST_CASE("A value the flag's type rejects is refused, saying what is expected", "[config_file]") {
  ResetFlags();
  CHECK(ApplyError("test_interval_ms = fast\n") ==
        "d.conf:1: bad value \"fast\" for test_interval_ms: expected an integer");
  CHECK(ApplyError("test_interval_ms = 99999999999\n") ==
        "d.conf:1: bad value \"99999999999\" for test_interval_ms: expected an integer");
  CHECK(ApplyError("test_insecure = maybe\n") ==
        "d.conf:1: bad value \"maybe\" for test_insecure: expected true or false");
  CHECK(absl::GetFlag(FLAGS_test_interval_ms) == 1000);
  CHECK_FALSE(absl::GetFlag(FLAGS_test_insecure));
}

TEST_CASE("A file that cannot be read is refused, naming it and why", "[config_file]") {
  const std::string missing = TempFile("x", "") + ".missing";
  absl::StatusOr<std::vector<ConfigEntry>> read = ReadConfigFile(missing);
  CHECK(read.status().code() == absl::StatusCode::kNotFound);
  CHECK(read.status().message() == missing + ": cannot read: No such file or directory");

  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string directory = dir != nullptr ? dir : "/tmp";
  read = ReadConfigFile(directory);
  CHECK(read.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(read.status().message() == directory + ": cannot read: Is a directory");

  const std::string big = TempFile("big.conf", std::string((1 << 20) + 1, '#'));
  read = ReadConfigFile(big);
  CHECK(read.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(read.status().message(), "not a config file"));
}

}  // namespace
}  // namespace paramsync
