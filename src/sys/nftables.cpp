#include "sys/nftables.hpp"

#include <nftables/libnftables.h>

#include <memory>

namespace kuiga::sys {

VoidResult runNft(const std::string& commands) {
  // The context opens its netlink socket in the calling thread's namespace.
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) return failMsg("nftables: cannot make a context");
  nft_ctx_buffer_error(ctx.get());
  nft_ctx_buffer_output(ctx.get());
  if (nft_run_cmd_from_buffer(ctx.get(), commands.c_str()) != 0) {
    std::string why = nft_ctx_get_error_buffer(ctx.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return failMsg("nftables: " + why);
  }
  return {};
}

}  // namespace kuiga::sys
