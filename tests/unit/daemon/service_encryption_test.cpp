// Encrypted images in the Service: each gets a fresh key that reaches the SecretStore before the
// Allocate is answered, a release drops it, a key the store cannot keep leaves nothing, and
// [pool] encryption decides for requests that do not. With the fake engine and a fake store; the
// images themselves are checked with qemu-img in the CLI's and the daemon's integration tests.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/qemu_img.h"
#include "tests/unit/daemon/service_fixture.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::run;

class ServiceEncryptionTest : public ServiceTest {
 protected:
  FakeSecretStore store{loop};

  // The store is set before start(), as main.cpp does: the pool's recovery may drop keys.
  Service& startWithStore(Config c) {
    service.reset();
    service = std::make_unique<Service>(std::move(c), loop, listener, resolver, engine());
    service->setSecretStore(&store);
    auto report = service->start();
    EXPECT_TRUE(report.ok()) << report.status().message();
    return *service;
  }

  static AllocateRequest encrypted(const std::string& target = "vdb",
                                   vocabulary::Lifetime lifetime = vocabulary::Lifetime::kBoot) {
    AllocateRequest r = request(kDomainA, 64 * kMiB, target);
    r.spec.image.format = image::ImageFormat::kQcow2;
    r.spec.image.encryption = image::Encryption::kLuks;
    r.spec.encryptionGiven = true;
    r.spec.lifetime = lifetime;
    return r;
  }
};

TEST_F(ServiceEncryptionTest, GivesTheImageAFreshKeyThatTheStoreHoldsBeforeTheAnswer) {
  startWithStore(baseConfig());
  auto record = allocate(encrypted());
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->spec.encryption, image::Encryption::kLuks);
  ASSERT_EQ(store.puts.size(), 1u);
  const DiskKey& key = store.puts[0];
  EXPECT_EQ(key.secretUuid, vocabulary::secretUuidOf(kDomainA, "vdb"));
  EXPECT_EQ(key.imagePath, record->path);
  EXPECT_TRUE(key.ephemeral) << "a boot image's key must never be written to a disk";
  EXPECT_GE(key.passphrase.size(), 40u);
  auto calls = fakeEngine.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].passphrase, key.passphrase) << "the store holds another key than the image";
}

TEST_F(ServiceEncryptionTest, AnIncomingImageIsEncryptedUnderAFreshKeyOfItsOwn) {
  startWithStore(baseConfig());
  AllocateRequest r = encrypted();
  r.spec.incoming = true;
  auto record = allocate(r);
  ASSERT_TRUE(record.ok()) << record.status().message();
  ASSERT_EQ(store.puts.size(), 1u);
  EXPECT_EQ(store.puts[0].secretUuid, vocabulary::secretUuidOf(kDomainA, "vdb"));
  auto calls = fakeEngine.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].spec.encryption, image::Encryption::kLuks);
  EXPECT_EQ(calls[0].spec.filesystem, image::Filesystem::kNone);
  EXPECT_EQ(calls[0].passphrase, store.puts[0].passphrase);
}

TEST_F(ServiceEncryptionTest, KeysOfDomainAndManualImagesOutliveRestarts) {
  startWithStore(baseConfig());
  ASSERT_TRUE(allocate(encrypted("vdb", vocabulary::Lifetime::kDomain)).ok());
  ASSERT_TRUE(allocate(encrypted("vdc", vocabulary::Lifetime::kManual)).ok());
  ASSERT_EQ(store.puts.size(), 2u);
  EXPECT_FALSE(store.puts[0].ephemeral);
  EXPECT_FALSE(store.puts[1].ephemeral);
}

TEST_F(ServiceEncryptionTest, EveryImageHasItsOwnKey) {
  startWithStore(baseConfig());
  ASSERT_TRUE(allocate(encrypted("vdb")).ok());
  ASSERT_TRUE(allocate(encrypted("vdc")).ok());
  ASSERT_EQ(store.puts.size(), 2u);
  EXPECT_NE(store.puts[0].passphrase, store.puts[1].passphrase);
  EXPECT_NE(store.puts[0].secretUuid, store.puts[1].secretUuid);
}

TEST_F(ServiceEncryptionTest, ReleaseDropsTheKey) {
  startWithStore(baseConfig());
  auto record = allocate(encrypted());
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(service->releaseImage({}, record->id).ok());
  EXPECT_EQ(store.dropped, std::vector<std::string>{vocabulary::secretUuidOf(kDomainA, "vdb")});
  EXPECT_TRUE(store.keys.empty());
}

TEST_F(ServiceEncryptionTest, AKeyTheStoreCannotKeepFailsTheAllocationAndLeavesNothing) {
  startWithStore(baseConfig());
  store.error = Status(ErrorCode::kFailed, "libvirt said no");
  auto record = allocate(encrypted());
  ASSERT_FALSE(record.ok());
  EXPECT_NE(record.status().message().find("key"), std::string::npos) << record.status().message();
  EXPECT_NE(record.status().message().find("libvirt said no"), std::string::npos);
  EXPECT_EQ(service->images().size(), 0u);
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdb.qcow2"));
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdb.record"));
  EXPECT_TRUE(listener.added.empty());
}

TEST_F(ServiceEncryptionTest, TheHostDefaultDecidesWhenTheRequestDoesNotSay) {
  Config c = baseConfig();
  c.poolEncryption = image::Encryption::kLuks;
  startWithStore(c);
  AllocateRequest silent = encrypted("vdb");
  silent.spec.image.encryption = image::Encryption::kNone;
  silent.spec.encryptionGiven = false;
  auto record = allocate(silent);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->spec.encryption, image::Encryption::kLuks);

  AllocateRequest plain = encrypted("vdc");
  plain.spec.image.encryption = image::Encryption::kNone;
  auto unencrypted = allocate(plain);
  ASSERT_TRUE(unencrypted.ok()) << unencrypted.status().message();
  EXPECT_EQ(unencrypted->spec.encryption, image::Encryption::kNone);
  EXPECT_EQ(store.puts.size(), 1u);
}

TEST_F(ServiceEncryptionTest, ARawImageUnderAnEncryptingHostIsRawLuks) {
  Config c = baseConfig();
  c.poolEncryption = image::Encryption::kLuks;
  startWithStore(c);
  AllocateRequest raw = request(kDomainA, 64 * kMiB);  // raw, encryption not named
  auto record = allocate(raw);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->spec.format, image::ImageFormat::kRaw);
  EXPECT_EQ(record->spec.encryption, image::Encryption::kLuks);
  auto calls = fakeEngine.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].spec.format, image::ImageFormat::kRaw);
  EXPECT_EQ(calls[0].spec.encryption, image::Encryption::kLuks);
  EXPECT_FALSE(calls[0].passphrase.empty());
  EXPECT_EQ(store.puts.size(), 1u);
}

TEST_F(ServiceEncryptionTest, AnEncryptedImageIsStillKnownAsOneAfterARestart) {
  startWithStore(baseConfig());
  auto record = allocate(encrypted("vdb", vocabulary::Lifetime::kDomain));
  ASSERT_TRUE(record.ok());
  startWithStore(baseConfig());
  const ImageRecord* again = service->findImage(record->id);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->spec.encryption, image::Encryption::kLuks);
}

TEST_F(ServiceEncryptionTest, HandsTheKeyToRootAloneAsASealedFile) {
  startWithStore(baseConfig());
  auto record = allocate(encrypted());
  ASSERT_TRUE(record.ok());
  auto key = service->openKey(Caller{}, record->id);
  ASSERT_TRUE(key.ok()) << key.status().message();
  std::string text(128, '\0');
  ssize_t n = pread(key->get(), text.data(), text.size(), 0);
  ASSERT_GT(n, 0);
  text.resize(static_cast<size_t>(n));
  EXPECT_EQ(text, store.puts.at(0).passphrase);
  EXPECT_LT(pwrite(key->get(), "x", 1, 0), 0) << "the key's file can be changed";

  auto nobody = service->openKey(nobodyCaller(), record->id);
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.status().code(), ErrorCode::kAccessDenied);
  EXPECT_NE(nobody.status().message().find("uid 65534"), std::string::npos);

  AllocateRequest plain = request(kDomainA, 64 * kMiB, "vdc");
  auto unencrypted = allocate(plain);
  ASSERT_TRUE(unencrypted.ok());
  auto none = service->openKey(Caller{}, unencrypted->id);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument);
}

// The files in the template cache whose names contain `part`.
std::vector<std::string> templateFilesWith(const std::string& dir, const std::string& part) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  while (dirent* e = d ? readdir(d.get()) : nullptr) {
    std::string name = e->d_name;
    if (name.find(part) != std::string::npos) out.push_back(name);
  }
  return out;
}

TEST_F(ServiceEncryptionTest, AWarmEncryptedImageIsASpareEncryptedUnderItsOwnKey) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  startWithStore(c);
  using Op = FakeImageEngine::Op;
  auto first = allocate(encrypted("vdb"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(loop.runUntil([&] { return fakeEngine.count(Op::kEncrypt) >= 2; }))
      << "no encrypted spares were made";
  auto calls = fakeEngine.calls();
  // The template is the spec's plaintext, raw and private to the daemon; the first image, made
  // before any spare existed, is cold and encrypted. Both are made on workers, in either order.
  size_t plainTemplates = 0, coldEncrypted = 0;
  for (const auto& call : calls) {
    if (call.op != Op::kCreate) continue;
    if (call.spec.format == image::ImageFormat::kRaw &&
        call.spec.encryption == image::Encryption::kNone) {
      ++plainTemplates;
    }
    if (call.spec.encryption == image::Encryption::kLuks) ++coldEncrypted;
  }
  EXPECT_EQ(plainTemplates, 1u);
  EXPECT_EQ(coldEncrypted, 1u);
  size_t creates = fakeEngine.count(Op::kCreate);

  auto second = allocate(encrypted("vdc"));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(fakeEngine.count(Op::kCreate), creates) << "the warm image was made cold";
  std::string spareKey;
  for (const auto& call : fakeEngine.calls()) {
    if (call.op == Op::kEncrypt && call.name.find(second->filesystemUuid) != std::string::npos) {
      spareKey = call.passphrase;
    }
  }
  ASSERT_FALSE(spareKey.empty()) << "the image is no spare of UUID " << second->filesystemUuid;
  EXPECT_EQ(store.keys.at(vocabulary::secretUuidOf(kDomainA, "vdc")).passphrase, spareKey);
  EXPECT_NE(store.keys.at(vocabulary::secretUuidOf(kDomainA, "vdb")).passphrase, spareKey);
  EXPECT_TRUE(fileExists(second->path));
  // A spare's plaintext lies beside the template only while it is encrypted, on a worker: the
  // refill of the spare vdc took may be at it now. Once that refill is encrypted and every
  // spare made has told the loop, none is left (the file goes before the spare is reported).
  ASSERT_TRUE(loop.runUntil([&] {
    return fakeEngine.count(Op::kEncrypt) >= 3 &&
           templateFilesWith(dir.file("pool/.templates"), ".plain-").empty();
  })) << "a spare's plaintext stayed beside the template";

  // A restart finds spares whose keys were in the old daemon's memory: they go.
  bool stopped = false;
  service->shutdown(false, [&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }));
  EXPECT_FALSE(templateFilesWith(dir.file("pool/.templates"), ".spare-").empty());
  startWithStore(c);
  EXPECT_TRUE(templateFilesWith(dir.file("pool/.templates"), ".spare-").empty());
}

// The same on the real engine: the spare QEMU decrypts is the template's filesystem with the
// image's own UUID.
// qcow2 with QEMU's LUKS, or raw LUKS.
class RealEncryptedSpares : public ServiceOnRealEngine,
                            public ::testing::WithParamInterface<image::ImageFormat> {
 protected:
  FakeSecretStore store{loop};
};

TEST_P(RealEncryptedSpares, QemuOpensAWarmEncryptedImageWithTheKeyTheStoreHolds) {
  const image::ImageFormat format = GetParam();
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  service = std::make_unique<Service>(c, loop, listener, resolver, engine());
  service->setSecretStore(&store);
  ASSERT_TRUE(service->start().ok());
  AllocateRequest r = request(kDomainA, 256 * kMiB);
  r.spec.image.format = format;
  r.spec.image.encryption = image::Encryption::kLuks;
  r.spec.encryptionGiven = true;
  r.spec.image.label = "warm-secret";
  ASSERT_TRUE(allocate(r).ok());
  // The next one takes a spare once one is ready.
  std::string spares = dir.file("pool/.templates");
  ASSERT_TRUE(loop.runUntil([&] { return !templateFilesWith(spares, ".spare-").empty(); }));
  r.spec.target = "vdc";
  auto warm = allocate(r);
  ASSERT_TRUE(warm.ok()) << warm.status().message();
  std::string key = dir.file("key");
  ::virtscratch::test::writeFileAt(
      key, 0, store.keys.at(vocabulary::secretUuidOf(kDomainA, "vdc")).passphrase);
  std::string raw = dir.file("guest.raw");
  CommandResult converted = ::virtscratch::test::qemuImg(
      {"convert"}, ::virtscratch::test::withKey(warm->path, key, std::string(toString(format))),
      {"-O", "raw", raw});
  ASSERT_EQ(converted.exitCode, 0) << converted.err;
  auto fs = probe(raw);
  EXPECT_EQ(fs["TYPE"], "ext4");
  EXPECT_EQ(fs["LABEL"], "warm-secret");
  EXPECT_EQ(fs["UUID"], warm->filesystemUuid);
  EXPECT_EQ(run({"e2fsck", "-fn", raw}).exitCode, 0);
  // Raw LUKS's unwritten sectors decrypt to noise: the template was made with its journal written
  // as zeros, and the spare encrypted them.
  std::string journal = run({"debugfs", "-R", "cat <8>", raw}).out;
  ASSERT_GT(journal.size(), 4096u);
  EXPECT_EQ(journal.find_first_not_of('\0', 4096), std::string::npos);
  EXPECT_EQ(probe(warm->path)["TYPE"], format == image::ImageFormat::kRaw ? "crypto_LUKS" : "")
      << "the image file holds a readable filesystem";
}

INSTANTIATE_TEST_SUITE_P(Formats, RealEncryptedSpares,
                         ::testing::Values(image::ImageFormat::kQcow2, image::ImageFormat::kRaw),
                         [](const auto& param) { return std::string(toString(param.param)); });

TEST_F(ServiceEncryptionTest, ARestartDropsTheKeyOfARecordWhoseImageIsGone) {
  startWithStore(baseConfig());
  auto record = allocate(encrypted("vdb", vocabulary::Lifetime::kDomain));
  ASSERT_TRUE(record.ok());
  service.reset();
  // A release that died after deleting the image, before the record.
  ASSERT_EQ(unlink(record->path.c_str()), 0);
  startWithStore(baseConfig());
  EXPECT_EQ(service->findImage(record->id), nullptr);
  EXPECT_EQ(store.dropped, std::vector<std::string>{vocabulary::secretUuidOf(kDomainA, "vdb")});
}

}  // namespace
}  // namespace virtscratch::daemon::fake
