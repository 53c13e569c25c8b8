// PEM files for TLS (no gRPC, no LibTorch: every build has it).
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "motifbench/surrogates/server.hpp"

namespace motifbench::surrogates {

bool read_pem(const std::string& path, bool secret, std::string* out, std::string* why) {
  struct stat st {};
  std::ifstream f(path, std::ios::binary);
  if (!f || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "'" + path + "' is not a readable file";
    return false;
  }
  if (secret && (st.st_mode & 077) != 0) {
    *why = "the private key '" + path + "' must be readable by its owner only (chmod 600)";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  if (out->find("-----BEGIN ") == std::string::npos) {
    *why = "'" + path + "' is not PEM (no -----BEGIN line)";
    return false;
  }
  return true;
}

}  // namespace motifbench::surrogates
