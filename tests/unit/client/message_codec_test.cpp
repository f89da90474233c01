// The client library's hand-written marshalling, without a bus: what message_writer writes,
// message_reader reads back, through real sd-bus messages (made on a connection that
// never authenticates). Against the real daemon: tests/integration/daemon/daemon_client_test.cpp.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "client/message_reader.h"
#include "client/message_writer.h"
#include "client/sd_bus_handles.h"

namespace virtscratch::client {
namespace {

class MessageCodec : public ::testing::Test {
 protected:
  // sd-bus makes messages only on an open connection: one end of a socket pair, whose
  // authentication never completes, as nothing is sent.
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_.reset(fds[1]);
    sd_bus* raw = nullptr;
    ASSERT_GE(sd_bus_new(&raw), 0);
    bus_.reset(raw);
    ASSERT_GE(sd_bus_set_fd(raw, fds[0], fds[0]), 0);
    ASSERT_GE(sd_bus_start(raw), 0);
  }

  MessagePtr newMessage() {
    sd_bus_message* raw = nullptr;
    EXPECT_GE(sd_bus_message_new_method_call(bus_.get(), &raw, "org.virtscratch.Scratch1",
                                             "/org/virtscratch/Scratch1", "test.Codec", "Test"),
              0);
    return MessagePtr(raw);
  }

  // Seals `message` as sent and rewinds it to be read as received.
  static void seal(sd_bus_message* message) {
    ASSERT_GE(sd_bus_message_seal(message, 1, 0), 0);
    ASSERT_GE(sd_bus_message_rewind(message, 1), 0);
  }

  UniqueFd peer_;
  BusPtr bus_;
};

TEST_F(MessageCodec, OptionsComeBackWithTheirNamesAndTypes) {
  MessagePtr message = newMessage();
  OptionMap options{{"size", uint64_t{1} << 40},
                    {"threads", uint32_t{3}},
                    {"filesystem", std::string("xfs")},
                    {"force", true},
                    {"lifetime", std::vector<std::string>{"boot", "domain"}}};
  ASSERT_TRUE(appendOptionMap(message.get(), options).ok());
  seal(message.get());
  EXPECT_STREQ(sd_bus_message_get_signature(message.get(), 1), "a{sv}");
  auto read = readPropertyMap(message.get());
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(propertyOr<uint64_t>(*read, "size"), uint64_t{1} << 40);
  EXPECT_EQ(propertyOr<uint32_t>(*read, "threads"), 3u);
  EXPECT_EQ(propertyOr<std::string>(*read, "filesystem"), "xfs");
  EXPECT_TRUE(propertyOr<bool>(*read, "force"));
  // The reader keeps basic types only: an array is there, as nothing.
  ASSERT_TRUE(read->contains("lifetime"));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(read->at("lifetime")));
}

TEST_F(MessageCodec, AnAllocateSpecKeepsEveryKeyAndType) {
  vocabulary::SpecMap spec{{"size", uint64_t{1} << 30},
                           {"vcpus", uint32_t{2}},
                           {"target", std::string("vdc")},
                           {"encrypt", false}};
  OptionMap options = toOptionMap(spec);
  ASSERT_EQ(options.size(), spec.size());
  EXPECT_EQ(std::get<uint64_t>(options.at("size")), uint64_t{1} << 30);
  EXPECT_EQ(std::get<uint32_t>(options.at("vcpus")), 2u);
  EXPECT_EQ(std::get<std::string>(options.at("target")), "vdc");
  EXPECT_FALSE(std::get<bool>(options.at("encrypt")));
}

TEST_F(MessageCodec, ReadsTheObjectManagersTreeAndPassesOverValuesOfOtherTypes) {
  MessagePtr message = newMessage();
  ASSERT_GE(sd_bus_message_append(
                message.get(), "a{oa{sa{sv}}}", 2, "/org/virtscratch/Scratch1/image/a_vdb", 1,
                "org.virtscratch.Scratch1.Image", 3, "Id", "s", "a_vdb", "VirtualSize", "t",
                uint64_t{10} << 30, "Odd", "ai", 2, 7, 8, "/org/virtscratch/Scratch1/job/1", 1,
                "org.virtscratch.Scratch1.Job", 1, "Progress", "d", 0.5),
            0);
  seal(message.get());
  auto tree = readObjectTree(message.get());
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  ASSERT_EQ(tree->size(), 2u);
  const PropertyMap& image =
      tree->at("/org/virtscratch/Scratch1/image/a_vdb").at("org.virtscratch.Scratch1.Image");
  EXPECT_EQ(propertyOr<std::string>(image, "Id"), "a_vdb");
  EXPECT_EQ(propertyOr<uint64_t>(image, "VirtualSize"), uint64_t{10} << 30);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(image.at("Odd")));
  // A value asked for as another type than it has reads as empty, not as a wrong number.
  EXPECT_EQ(propertyOr<uint32_t>(image, "VirtualSize"), 0u);
  const PropertyMap& job =
      tree->at("/org/virtscratch/Scratch1/job/1").at("org.virtscratch.Scratch1.Job");
  EXPECT_DOUBLE_EQ(propertyOr<double>(job, "Progress"), 0.5);
}

TEST_F(MessageCodec, AMessageOfAnotherShapeIsAnErrorSayingWhatWasRead) {
  MessagePtr message = newMessage();
  ASSERT_GE(sd_bus_message_append(message.get(), "s", "not a map"), 0);
  seal(message.get());
  auto read = readPropertyMap(message.get());
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("cannot be read (a{sv})"), std::string::npos)
      << read.status().message();
}

}  // namespace
}  // namespace virtscratch::client
