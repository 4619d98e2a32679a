#include "net/server/server_connection.h"

#include <fmt/format.h>

#include "common/logging.h"
#include "net/proto/protocol.h"

namespace kvstash::net {
namespace {

void OnSendDone(void* request, ucs_status_t status, void* user_data) {
  delete static_cast<std::vector<std::byte>*>(user_data);
  ucp_request_free(request);
}

}  // namespace

Result<uint32_t> Connection::AddBuffer(RemoteBuffer buf) {
  if (buffers_.size() >= kMaxBuffers) {
    return Status::ResourceExhausted(fmt::format("over {} buffers", kMaxBuffers));
  }
  uint32_t id = next_buffer_id_++;
  if (next_buffer_id_ == 0) next_buffer_id_ = 1;
  buffers_[id] = std::move(buf);
  return id;
}

Status Connection::RemoveBuffer(uint32_t id) {
  if (buffers_.erase(id) == 0) return Status::NotFound(fmt::format("no buffer {}", id));
  return Status::Ok();
}

const RemoteBuffer* Connection::FindBuffer(uint32_t id) const {
  auto it = buffers_.find(id);
  return it == buffers_.end() ? nullptr : &it->second;
}

void Connection::SendReply(std::vector<std::byte> msg) {
  if (ep_ == nullptr || ep_->failed()) return;
  auto* owned = new std::vector<std::byte>(std::move(msg));
  ucp_request_param_t p{};
  p.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_EAGER;
  p.cb.send = &OnSendDone;
  p.user_data = owned;
  ucs_status_ptr_t req =
      ucp_am_send_nbx(ep_->get(), kReplyAmId, nullptr, 0, owned->data(), owned->size(), &p);
  if (req == nullptr) {
    delete owned;
  } else if (UCS_PTR_IS_ERR(req)) {
    delete owned;
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "reply to connection {} failed: {}", id_,
                            ucs_status_string(UCS_PTR_STATUS(req)));
  }
}

}  // namespace kvstash::net
