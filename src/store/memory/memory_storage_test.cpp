// SPDX-License-Identifier: Apache-2.0
// Runs the storage, report, spam and import conformance suites against store::memory.
#include "store/memory/memory_storage.hpp"

#include <memory>

#include "store/conformance/import_conformance.hpp"
#include "store/conformance/report_conformance.hpp"
#include "store/conformance/spam_conformance.hpp"
#include "store/conformance/storage_conformance.hpp"

namespace tern::store::memory {
namespace {

struct MemoryFactory {
  std::unique_ptr<domain::Storage> make() { return std::make_unique<MemoryStorage>(); }
};

}  // namespace
}  // namespace tern::store::memory

namespace tern::store::conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StorageConformance,
                               ::testing::Types<tern::store::memory::MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ReportConformance,
                               ::testing::Types<tern::store::memory::MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ImportConformance,
                               ::testing::Types<tern::store::memory::MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, SpamConformance,
                               ::testing::Types<tern::store::memory::MemoryFactory>);
}  // namespace tern::store::conformance
