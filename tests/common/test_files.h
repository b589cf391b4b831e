// Files for the tests that run the built `shoal` as a separate process (tests/cli, tests/cluster).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace shoal::test_files {

// $SHOAL_TEST_TMP (set by ctest to a folder of the build), else `fallback` under the system's
// temporary folder; created if missing.
inline std::string TestTmpDir(const std::string& fallback) {
  const char* t = std::getenv("SHOAL_TEST_TMP");
  const std::string d = t ? t : (std::filesystem::temp_directory_path() / fallback).string();
  std::filesystem::create_directories(d);
  return d;
}

// The whole file ("" when it cannot be read).
inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace shoal::test_files
