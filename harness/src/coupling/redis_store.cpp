// The Redis staging store (builds with MOTIFBENCH_WITH_REDIS; hiredis).
#include <hiredis/hiredis.h>

#include <stdexcept>
#include <string>

#include "coupling/stores.hpp"

namespace motifbench::detail {
namespace {

class RedisStore final : public StagingStore {
 public:
  RedisStore(std::string host, int port, double timeout_s, const std::string& password)
      : m_host(std::move(host)), m_port(port), m_timeout_s(timeout_s), m_password(password) {
    timeval tv{static_cast<time_t>(timeout_s), static_cast<suseconds_t>((timeout_s - static_cast<long>(timeout_s)) * 1e6)};
    m_ctx = redisConnectWithTimeout(m_host.c_str(), m_port, tv);
    if (m_ctx == nullptr || m_ctx->err) {
      std::string why = m_ctx ? m_ctx->errstr : "out of memory";
      if (m_ctx) redisFree(m_ctx);
      m_ctx = nullptr;
      throw std::runtime_error("redis at " + where() + " is unreachable: " + why);
    }
    redisSetTimeout(m_ctx, tv);
    if (!password.empty()) freeReplyObject(command_args("AUTH %s", password.c_str()));
    auto* r = command("INFO server");
    std::string info(r->str ? r->str : "", r->len);
    freeReplyObject(r);
    auto pos = info.find("redis_version:");
    if (pos != std::string::npos) m_version = info.substr(pos + 14, info.find('\r', pos) - pos - 14);
  }
  ~RedisStore() override {
    if (m_ctx) redisFree(m_ctx);
  }
  std::unique_ptr<StagingStore> another() const override {
    return std::make_unique<RedisStore>(m_host, m_port, m_timeout_s, m_password);
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    freeReplyObject(command_args("SET %b %b", key.data(), key.size(), data, bytes));
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    auto* r = command_args("GET %b", key.data(), key.size());
    bool found = r->type == REDIS_REPLY_STRING;
    if (found) out.assign(r->str, r->str + r->len);
    freeReplyObject(r);
    return found;
  }
  void erase(const std::string& key) override { freeReplyObject(command_args("DEL %b", key.data(), key.size())); }
  const std::string& version() const { return m_version; }
  std::string describe() const override { return "redis " + where() + " (redis_version " + m_version + ")"; }
  std::string kind() const override { return "redis"; }

 private:
  std::string where() const { return m_host + ":" + std::to_string(m_port); }
  redisReply* check(void* reply) {
    auto* r = static_cast<redisReply*>(reply);
    if (r == nullptr) throw std::runtime_error("redis at " + where() + " failed: " + (m_ctx->errstr[0] ? m_ctx->errstr : "no reply"));
    if (r->type == REDIS_REPLY_ERROR) {
      std::string e(r->str, r->len);
      freeReplyObject(r);
      throw std::runtime_error("redis at " + where() + " answered an error: " + e);
    }
    return r;
  }
  redisReply* command(const char* cmd) {
    if (m_ctx->err) throw std::runtime_error("redis at " + where() + " failed: " + m_ctx->errstr);
    return check(redisCommand(m_ctx, cmd));
  }
  template <class... A>
  redisReply* command_args(const char* fmt, A... args) {
    if (m_ctx->err) throw std::runtime_error("redis at " + where() + " failed: " + m_ctx->errstr);
    return check(redisCommand(m_ctx, fmt, args...));
  }
  std::string m_host;
  int m_port;
  double m_timeout_s;
  std::string m_password;
  std::string m_version = "unknown";
  redisContext* m_ctx = nullptr;
};

}  // namespace

std::unique_ptr<StagingStore> make_redis_store(const std::string& host, int port, double timeout_s,
                                               const std::string& password) {
  return std::make_unique<RedisStore>(host, port, timeout_s, password);
}

std::string probe_redis(const std::string& host, int port, double timeout_s, const std::string& password) {
  return RedisStore(host, port, timeout_s, password).version();
}

}  // namespace motifbench::detail
