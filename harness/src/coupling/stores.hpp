// Staging store implementations (see motifbench/staging.hpp).
#pragma once

#include <memory>
#include <string>

#include "motifbench/staging.hpp"

namespace motifbench::detail {

std::unique_ptr<StagingStore> make_memory_store();
/// POSIX shared memory, shared by the ranks of a node: one segment per key,
/// named <prefix>.<hash of the key>, created with O_CREAT | O_EXCL and mode
/// 0600 by the first put (by any rank) and mapped once per rank; a get by any
/// rank with the same prefix finds it. `prefix` must carry randomness no
/// other user can predict (prepare_coupling: the node leader's pid and 64
/// random bits). A segment is unlinked by the rank that created it when its
/// store is destroyed (and by the cleanup of a signalled run, via the
/// registry in services.hpp), or by erase().
std::unique_ptr<StagingStore> make_shm_store(const std::string& prefix);
/// Files in a private folder made with mkdtemp (mode 0700) under `base_dir`;
/// the folder and its files are removed when the store goes.
std::unique_ptr<StagingStore> make_file_store(const std::string& base_dir);
/// A Redis server through hiredis, authenticated with `password` when given.
/// Throws std::runtime_error when unreachable or when Redis refuses it.
std::unique_ptr<StagingStore> make_redis_store(const std::string& host, int port, double timeout_s,
                                               const std::string& password = "");
/// Connects (and authenticates) once; returns the server's redis_version.
/// Throws std::runtime_error when unreachable or refused.
std::string probe_redis(const std::string& host, int port, double timeout_s, const std::string& password);

}  // namespace motifbench::detail
