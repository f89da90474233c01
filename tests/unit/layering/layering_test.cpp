// The layering rule, as tests: base <- image <- vocabulary <- {client, daemon} <- {cli, plugin}.
// Each layer may use only the layers below it on its own side: the daemon and the client are
// siblings, and the CLI and the hook reach the daemon only over the bus, through the client.
// Checked twice: every #include of the product's sources, and every link of its CMake targets
// (link_graph.txt, written at configure time by this folder's CMakeLists.txt).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::set<std::string>>& allowedBelow() {
  static const std::map<std::string, std::set<std::string>> kAllowed{
      {"base", {}},
      {"image", {"base"}},
      {"vocabulary", {"base", "image"}},
      {"client", {"base", "image", "vocabulary"}},
      {"daemon", {"base", "image", "vocabulary"}},
      {"cli", {"base", "image", "vocabulary", "client"}},
      {"plugin", {"base", "image", "vocabulary", "client"}},
  };
  return kAllowed;
}

bool mayUse(const std::string& from, const std::string& to) {
  return from == to || allowedBelow().at(from).contains(to);
}

std::string firstComponent(const std::string& path) { return path.substr(0, path.find('/')); }

struct Include {
  std::string file;  // relative to the source root
  int line = 0;
  std::string target;  // what is between the quotes or angle brackets
  bool angled = false;
};

std::vector<Include> includesOfLayers() {
  std::vector<Include> out;
  for (const auto& [layer, allowed] : allowedBelow()) {
    fs::path dir = fs::path(VS_SOURCE_DIR) / layer;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      std::string ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
      std::ifstream in(entry.path());
      std::string text;
      int number = 0;
      while (std::getline(in, text)) {
        ++number;
        if (!text.starts_with("#include ")) continue;
        std::string rest = text.substr(9);
        if (rest.size() < 2) continue;
        char close = rest[0] == '<' ? '>' : '"';
        size_t end = rest.find(close, 1);
        if (end == std::string::npos) continue;
        out.push_back({fs::relative(entry.path(), VS_SOURCE_DIR).string(), number,
                       rest.substr(1, end - 1), rest[0] == '<'});
      }
    }
  }
  return out;
}

TEST(Layering, NoSourceIncludesALayerAboveOrBesideItsOwn) {
  std::vector<Include> includes = includesOfLayers();
  ASSERT_GT(includes.size(), 500u) << "the scan found too few includes: is VS_SOURCE_DIR right?";
  size_t checked = 0;
  for (const Include& inc : includes) {
    if (inc.angled || inc.target.find('/') == std::string::npos) continue;
    std::string to = firstComponent(inc.target);
    if (!allowedBelow().contains(to)) continue;
    ++checked;
    std::string from = firstComponent(inc.file);
    EXPECT_TRUE(mayUse(from, to)) << inc.file << ":" << inc.line << " (" << from << ") includes \""
                                  << inc.target << "\" (" << to << ")";
  }
  EXPECT_GT(checked, 300u);
}

TEST(Layering, OnlyTheBusLayerIncludesGeneratedBindingsOrSdbusCpp) {
  size_t adaptors = 0;
  for (const Include& inc : includesOfLayers()) {
    if (inc.target == "scratch1_adaptor.h") {
      ++adaptors;
      EXPECT_TRUE(inc.file.starts_with("daemon/dbus/")) << inc.file << ":" << inc.line;
    }
    // The client library, and so the hook and the CLI, speak sd-bus: no sdbus-c++, no proxies.
    EXPECT_NE(inc.target, "scratch1_proxy.h") << inc.file << ":" << inc.line;
    if (inc.target.starts_with("sdbus-c++")) {
      EXPECT_TRUE(inc.file.starts_with("daemon/")) << inc.file << ":" << inc.line;
    }
  }
  EXPECT_GT(adaptors, 0u);
}

TEST(Layering, TheEngineAndTheVocabularyKnowNoBusLoopOrLibvirt) {
  for (const Include& inc : includesOfLayers()) {
    std::string layer = firstComponent(inc.file);
    if (layer != "base" && layer != "image" && layer != "vocabulary") continue;
    for (const char* banned : {"sdbus-c++", "libvirt/", "glib", "gio/", "systemd/"}) {
      EXPECT_FALSE(inc.target.starts_with(banned))
          << inc.file << ":" << inc.line << " includes <" << inc.target << ">";
    }
  }
}

TEST(Layering, TheEngineReturnsOnlyEngineErrorCodes) {
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(VS_SOURCE_DIR) / "image")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path());
    std::string text;
    int number = 0;
    while (std::getline(in, text)) {
      ++number;
      for (const char* daemonOnly : {"kQuotaExceeded", "kAccessDenied"}) {
        EXPECT_EQ(text.find(daemonOnly), std::string::npos)
            << entry.path().filename() << ":" << number << " names " << daemonOnly;
      }
    }
  }
}

struct TargetNode {
  std::string layer;
  std::vector<std::string> links;
};

// target|folder|LINK_LIBRARIES|INTERFACE_LINK_LIBRARIES, one line per project target.
std::map<std::string, TargetNode> linkGraph() {
  std::map<std::string, TargetNode> graph;
  std::ifstream in(VS_LINK_GRAPH);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream split(line);
    std::string field;
    while (std::getline(split, field, '|')) fields.push_back(field);
    if (fields.size() < 2) continue;
    TargetNode node{firstComponent(fields[1]), {}};
    for (size_t i = 2; i < fields.size(); ++i) {
      std::stringstream items(fields[i]);
      std::string item;
      while (std::getline(items, item, ';')) {
        // $<LINK_ONLY:name> is how CMake hands on a static library's private links.
        if (item.starts_with("$<LINK_ONLY:") && item.ends_with(">")) {
          item = item.substr(12, item.size() - 13);
        }
        if (!item.empty()) node.links.push_back(item);
      }
    }
    graph[fields[0]] = node;
  }
  return graph;
}

TEST(Layering, NoTargetLinksALayerAboveOrBesideItsOwn) {
  std::map<std::string, TargetNode> graph = linkGraph();
  for (const char* expected :
       {"virtscratch_base", "virtscratch_image", "virtscratch_vocabulary", "virtscratch_daemon",
        "virt-scratchd", "virt-scratch", "virt-scratch-hook"}) {
    ASSERT_TRUE(graph.contains(expected)) << expected << " is missing from " << VS_LINK_GRAPH;
  }
  EXPECT_EQ(graph["virt-scratch-hook"].layer, "plugin");
  size_t checked = 0;
  for (const auto& [name, node] : graph) {
    for (const std::string& dep : node.links) {
      auto it = graph.find(dep);
      if (it == graph.end()) continue;  // a system library or an imported target
      ++checked;
      EXPECT_TRUE(mayUse(node.layer, it->second.layer))
          << name << " (" << node.layer << ") links " << dep << " (" << it->second.layer << ")";
    }
  }
  EXPECT_GT(checked, 8u);
}

// What a target ends up linking, through every project library it links.
std::set<std::string> closure(const std::map<std::string, TargetNode>& graph,
                              const std::string& root) {
  std::set<std::string> seen;
  std::vector<std::string> todo{root};
  while (!todo.empty()) {
    std::string next = todo.back();
    todo.pop_back();
    auto it = graph.find(next);
    if (it == graph.end()) continue;
    for (const std::string& dep : it->second.links) {
      if (graph.contains(dep) && seen.insert(dep).second) todo.push_back(dep);
    }
  }
  return seen;
}

TEST(Layering, TheHookAndTheCommandLinkNoDaemonCode) {
  std::map<std::string, TargetNode> graph = linkGraph();
  for (const char* program : {"virt-scratch-hook", "virt-scratch"}) {
    for (const std::string& dep : closure(graph, program)) {
      EXPECT_NE(graph.at(dep).layer, "daemon") << program << " links " << dep;
    }
  }
}

}  // namespace
