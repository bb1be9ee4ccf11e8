#pragma once
// The parsers that read what users and their devices send, fuzzed: each target here is a
// libFuzzer entry point (`scripts/fuzz.sh` builds them with clang and runs them), and the
// test suite replays the checked-in corpus (fuzz/corpus/TARGET: seeds and every input that
// once failed) through the same entry points under AddressSanitizer and UBSan.
//
// A target checks properties, not only "no crash": what one parser accepts, its inverse writes
// back the same; a rewrite leaves a packet that still parses. A broken property aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
