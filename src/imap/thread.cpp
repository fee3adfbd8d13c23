// SPDX-License-Identifier: Apache-2.0
#include "imap/thread.hpp"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace tern::imap {
namespace {

constexpr int kNone = -1;

// A node of the thread tree: a message, or a dummy (a message referred to but not
// searched, or a node the subject merge adds).
struct Node {
  int message = kNone;  // index into the messages; kNone for a dummy
  int parent = kNone;
  std::vector<int> children;
};

class Forest {
 public:
  explicit Forest(const std::vector<ThreadMessage>& messages) : messages_(messages) {}

  int add(int message) {
    nodes_.push_back(Node{message, kNone, {}});
    return static_cast<int>(nodes_.size()) - 1;
  }

  Node& operator[](int n) { return nodes_[static_cast<std::size_t>(n)]; }

  const Node& operator[](int n) const { return nodes_[static_cast<std::size_t>(n)]; }

  std::size_t size() const { return nodes_.size(); }

  bool is_dummy(int n) const { return (*this)[n].message == kNone; }

  const ThreadMessage* message(int n) const {
    return is_dummy(n) ? nullptr : &messages_[static_cast<std::size_t>((*this)[n].message)];
  }

  // True when making `parent` the parent of `child` would close a loop: `child`
  // is `parent` or above it. Walks up from `parent` and down through `child`'s
  // subtree in step, so the answer costs the smaller of the two, not the depth of
  // a chain of replies each time (that made a 200,000-message chain quadratic).
  bool would_loop(int parent, int child) const {
    if (parent == child) {
      return true;
    }
    if ((*this)[child].children.empty()) {
      return false;  // nothing is below it
    }
    int up = (*this)[parent].parent;
    std::vector<int> down = (*this)[child].children;
    for (std::size_t i = 0;; ++i) {
      if (up == kNone) {
        return false;  // the top, and `child` was not on the way
      }
      if (up == child) {
        return true;
      }
      up = (*this)[up].parent;
      if (i == down.size()) {
        return false;  // all of `child`'s subtree, and `parent` is not in it
      }
      if (down[i] == parent) {
        return true;
      }
      const auto& kids = (*this)[down[i]].children;
      down.insert(down.end(), kids.begin(), kids.end());
    }
  }

  void link(int parent, int child) {
    (*this)[child].parent = parent;
    (*this)[parent].children.push_back(child);
  }

  void unlink(int child) {
    const int parent = (*this)[child].parent;
    if (parent == kNone) {
      return;
    }
    auto& siblings = (*this)[parent].children;
    siblings.erase(std::find(siblings.begin(), siblings.end(), child));
    (*this)[child].parent = kNone;
  }

  // The sort key of §2.2 and step (4): a message's sent date (then its place in
  // the mailbox); a dummy's first child's.
  std::tuple<std::int64_t, std::uint32_t> date_key(int n) const {
    while (is_dummy(n) && !(*this)[n].children.empty()) {
      n = (*this)[n].children.front();
    }
    const ThreadMessage* m = message(n);
    return m == nullptr ? std::tuple<std::int64_t, std::uint32_t>{0, 0}
                        : std::tuple<std::int64_t, std::uint32_t>{m->sent, m->msn};
  }

  void sort_by_date(std::vector<int>& list) const {
    std::stable_sort(list.begin(), list.end(),
                     [&](int a, int b) { return date_key(a) < date_key(b); });
  }

  // The thread subject of step (5.B.i): the message's, or a dummy's first child's.
  const std::string* thread_subject(int n) const {
    if (is_dummy(n)) {
      if ((*this)[n].children.empty()) {
        return nullptr;
      }
      n = (*this)[n].children.front();
    }
    const ThreadMessage* m = message(n);
    return m == nullptr || m->subject.empty() ? nullptr : &m->subject;
  }

  bool is_reply(int n) const {
    const ThreadMessage* m = message(n);
    return m != nullptr && m->reply_or_forward;
  }

  // thread-members / thread-nested (RFC 5256 §5) of the subtree at `n`, without
  // the thread-list's own parentheses. Iterative: a chain of replies is as deep
  // as the mailbox is large, and the stack is not.
  void write(int n, std::string& out) const {
    // What is still to write, last first: a node, or a literal character.
    struct Step {
      int node;
      char text;  // written when node is kNone
    };

    std::vector<Step> todo{{n, 0}};
    while (!todo.empty()) {
      const Step step = todo.back();
      todo.pop_back();
      if (step.node == kNone) {
        out += step.text;
        continue;
      }
      if (const ThreadMessage* m = message(step.node)) {
        out += std::to_string(m->number);
      }
      const auto& kids = (*this)[step.node].children;
      if (kids.size() == 1) {
        todo.push_back({kids.front(), 0});
      } else {
        for (auto kid = kids.rbegin(); kid != kids.rend(); ++kid) {
          todo.push_back({kNone, ')'});
          todo.push_back({*kid, 0});
          todo.push_back({kNone, '('});
        }
      }
      if (!kids.empty() && !is_dummy(step.node)) {
        todo.push_back({kNone, ' '});
      }
    }
  }

  // Every node under `roots`, each before its children (pre-order), without
  // recursion.
  std::vector<int> below(const std::vector<int>& roots) const {
    std::vector<int> order;
    std::vector<int> todo(roots.rbegin(), roots.rend());
    while (!todo.empty()) {
      const int n = todo.back();
      todo.pop_back();
      order.push_back(n);
      const auto& kids = (*this)[n].children;
      todo.insert(todo.end(), kids.rbegin(), kids.rend());
    }
    return order;
  }

 private:
  const std::vector<ThreadMessage>& messages_;
  std::vector<Node> nodes_;
};

std::string write_threads(const Forest& forest, const std::vector<int>& roots) {
  std::string out;
  for (int root : roots) {
    out += '(';
    forest.write(root, out);
    out += ')';
  }
  return out;
}

// Step (3) for one list of siblings whose own children are pruned already:
// dummies without children go; a dummy's children take its place, except at the
// top level where a dummy keeps two or more children.
std::vector<int> prune_list(Forest& forest, int parent, const std::vector<int>& list, bool top) {
  std::vector<int> out;
  for (int n : list) {
    if (!forest.is_dummy(n)) {
      out.push_back(n);
      continue;
    }
    const auto kids = forest[n].children;
    if (kids.empty()) {
      continue;
    }
    if (top && kids.size() > 1) {
      out.push_back(n);
      continue;
    }
    for (int kid : kids) {
      forest[kid].parent = parent;
      out.push_back(kid);
    }
    forest[n].children.clear();
  }
  return out;
}

// Step (3) for the whole forest, children before parents.
std::vector<int> prune(Forest& forest, const std::vector<int>& roots) {
  const std::vector<int> order = forest.below(roots);
  for (auto n = order.rbegin(); n != order.rend(); ++n) {
    forest[*n].children = prune_list(forest, *n, forest[*n].children, false);
  }
  return prune_list(forest, kNone, roots, true);
}

// Step (6): every set of siblings by sent date, the deepest first, so that a
// dummy's key is its earliest child.
void sort_siblings(Forest& forest, std::vector<int>& roots) {
  const std::vector<int> order = forest.below(roots);
  for (auto n = order.rbegin(); n != order.rend(); ++n) {
    forest.sort_by_date(forest[*n].children);
  }
  forest.sort_by_date(roots);
}

}  // namespace

std::string thread_ordered_subject(std::vector<ThreadMessage> messages) {
  std::sort(messages.begin(), messages.end(), [](const ThreadMessage& a, const ThreadMessage& b) {
    return std::tie(a.subject, a.sent, a.msn) < std::tie(b.subject, b.sent, b.msn);
  });
  Forest forest(messages);
  std::vector<int> roots;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const int n = forest.add(static_cast<int>(i));
    if (i > 0 && messages[i].subject == messages[i - 1].subject) {
      forest.link(roots.back(), n);  // the thread's later messages: the first's children
    } else {
      roots.push_back(n);
    }
  }
  forest.sort_by_date(roots);
  return write_threads(forest, roots);
}

std::string thread_references(std::vector<ThreadMessage> messages) {
  std::sort(messages.begin(), messages.end(),
            [](const ThreadMessage& a, const ThreadMessage& b) { return a.msn < b.msn; });
  Forest forest(messages);
  std::unordered_map<std::string_view, int> by_id;
  auto node_for_reference = [&](const std::string& id) {
    auto [it, added] = by_id.try_emplace(id, kNone);
    if (added) {
      it->second = forest.add(kNone);  // a dummy until (if ever) its message comes
    }
    return it->second;
  };
  // (1) Links from each message's references.
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ThreadMessage& m = messages[i];
    int self = kNone;
    if (!m.message_id.empty()) {
      auto it = by_id.find(m.message_id);
      if (it == by_id.end()) {
        self = forest.add(static_cast<int>(i));
        by_id.emplace(m.message_id, self);
      } else if (forest.is_dummy(it->second)) {
        self = it->second;
        forest[self].message = static_cast<int>(i);
      }
    }
    if (self == kNone) {
      self = forest.add(static_cast<int>(i));  // no id, or a duplicate: a unique one
    }
    // (A) Each reference the parent of the next, unless the next has a parent or
    // the link would make a loop.
    int previous = kNone;
    for (const std::string& id : m.references) {
      const int ref = node_for_reference(id);
      if (previous != kNone && forest[ref].parent == kNone && !forest.would_loop(previous, ref)) {
        forest.link(previous, ref);
      }
      previous = ref;
    }
    // (B) The last reference is the message's parent, replacing any parent (A) of
    // an earlier message gave it; none without references.
    forest.unlink(self);
    if (previous != kNone && !forest.would_loop(previous, self)) {
      forest.link(previous, self);
    }
  }
  // (2) The messages without a parent are the threads so far.
  std::vector<int> roots;
  for (std::size_t n = 0; n < forest.size(); ++n) {
    if (forest[static_cast<int>(n)].parent == kNone) {
      roots.push_back(static_cast<int>(n));
    }
  }
  // (3) Dummies pruned; (4) the threads by date.
  roots = prune(forest, roots);
  for (int root : roots) {
    if (forest.is_dummy(root)) {
      forest.sort_by_date(forest[root].children);
    }
  }
  forest.sort_by_date(roots);
  // (5) Threads with the same base subject merged. (B) The subject table.
  std::unordered_map<std::string_view, int> by_subject;
  for (int root : roots) {
    const std::string* subject = forest.thread_subject(root);
    if (subject == nullptr) {
      continue;
    }
    auto [it, added] = by_subject.try_emplace(*subject, root);
    const int held = it->second;
    if (!added && !forest.is_dummy(held) &&
        (forest.is_dummy(root) || (forest.is_reply(held) && !forest.is_reply(root)))) {
      it->second = root;
    }
  }
  // (C) The merge.
  std::vector<int> merged;
  std::vector<bool> gone(forest.size(), false);
  const std::vector<int> before = roots;
  for (int root : before) {
    if (gone[static_cast<std::size_t>(root)]) {
      continue;
    }
    const std::string* subject = forest.thread_subject(root);
    auto it = subject == nullptr ? by_subject.end() : by_subject.find(*subject);
    if (it == by_subject.end() || it->second == root) {
      continue;
    }
    const int held = it->second;
    gone[static_cast<std::size_t>(root)] = true;
    if (forest.is_dummy(held) && forest.is_dummy(root)) {
      for (int kid : forest[root].children) {
        forest[kid].parent = kNone;
        forest.link(held, kid);
      }
      forest[root].children.clear();
    } else if (forest.is_dummy(held) || (forest.is_reply(root) && !forest.is_reply(held))) {
      forest.link(held, root);
    } else {
      // Neither is the other's reply: both under a new dummy, in the table's place.
      const int dummy = forest.add(kNone);
      gone.push_back(false);
      std::replace(roots.begin(), roots.end(), held, dummy);
      gone[static_cast<std::size_t>(held)] = true;  // now under the dummy
      forest.link(dummy, held);
      forest.link(dummy, root);
      it->second = dummy;
    }
  }
  std::erase_if(roots, [&](int n) { return gone[static_cast<std::size_t>(n)]; });
  // (6) Every set of siblings by date.
  sort_siblings(forest, roots);
  return write_threads(forest, roots);
}

}  // namespace tern::imap
