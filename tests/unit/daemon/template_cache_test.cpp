// TemplateCache: a TemplateRef keeps its template from eviction, and dropping the last
// copy of it is the release (no count kept by hand); spares follow the demand.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "daemon/templates.h"
#include "tests/support/test_util.h"

namespace virtscratch::daemon {
namespace {

using ::virtscratch::test::TempDir;

class TemplateCacheUses : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = UniqueFd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(pool_);
    auto opened = cache_.open(pool_.get(), dir_.path(), {});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    image::ImageSpec spec;
    spec.format = image::ImageFormat::kQcow2;
    spec.filesystem = image::Filesystem::kExt4;
    spec.size = 1 << 20;
    TemplateCache::Entry* entry = cache_.add("key", spec);
    ASSERT_NE(entry, nullptr);
    name_ = entry->name;
    cache_.built(name_, 4096);  // over the budget of 1 byte
  }

  TempDir dir_;
  UniqueFd pool_;
  TemplateCache cache_{TemplateMode::kOverlay, 1};
  std::string name_;
};

TEST_F(TemplateCacheUses, ATemplateInUseIsNotEvictedAndTheLastDroppedUseFreesIt) {
  TemplateRef first = cache_.use(name_);
  TemplateRef second = cache_.use(name_);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->name, name_);
  EXPECT_TRUE(cache_.evict().empty());
  first.reset();
  EXPECT_TRUE(cache_.evict().empty()) << "evicted while a use remained";
  EXPECT_NE(cache_.byName(name_), nullptr);
  second.reset();
  EXPECT_EQ(cache_.evict(), std::vector<std::string>{name_});
  EXPECT_EQ(cache_.byName(name_), nullptr);
}

TEST_F(TemplateCacheUses, AUseOfNoTemplateIsNull) {
  EXPECT_EQ(cache_.use("0123456789abcdef"), nullptr);
}

TEST_F(TemplateCacheUses, AUseOutlivingTheCacheIsHarmless) {
  TemplateRef kept;
  {
    TemplateCache other(TemplateMode::kOverlay, 0);
    ASSERT_TRUE(other.open(pool_.get(), dir_.path(), {}).ok());
    image::ImageSpec spec;
    spec.format = image::ImageFormat::kQcow2;
    spec.filesystem = image::Filesystem::kExt4;
    spec.size = 2 << 20;
    TemplateCache::Entry* entry = other.add("other", spec);
    ASSERT_NE(entry, nullptr);
    kept = other.use(entry->name);
  }
  ASSERT_TRUE(kept);
  kept.reset();  // the cache is gone: nothing to tell
}

// Spares follow demand: as many as the template was asked for in the last minute, within bounds;
// the demand of an earlier burst is forgotten once it is a minute old.
TEST_F(TemplateCacheUses, SparesFollowTheDemandOfTheLastMinute) {
  TemplateCache::Entry* entry = cache_.byName(name_);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(cache_.spareTarget(*entry), TemplateCache::kSpares);
  EXPECT_EQ(cache_.spareDeficit(*entry), TemplateCache::kSpares);  // now counted as building

  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) cache_.noteDemand(*entry, start);
  EXPECT_EQ(cache_.spareTarget(*entry), 10u);
  EXPECT_EQ(cache_.spareDeficit(*entry), 10u - TemplateCache::kSpares);
  for (int i = 0; i < 64; ++i) cache_.noteDemand(*entry, start);
  EXPECT_EQ(cache_.spareTarget(*entry), TemplateCache::kMaxSpares);

  cache_.noteDemand(*entry, start + TemplateCache::kDemandWindow + std::chrono::seconds(1));
  EXPECT_EQ(cache_.spareTarget(*entry), TemplateCache::kSpares) << "an old burst still counted";
}

}  // namespace
}  // namespace virtscratch::daemon
