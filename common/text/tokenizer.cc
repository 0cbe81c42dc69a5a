#include "common/text/tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/json_fields.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// ---- UTF-8 -------------------------------------------------------------------------------

// Decodes one code point at `i`; returns its length, or 0 for an invalid sequence
// (overlong forms, surrogates and values above U+10FFFF are invalid, as in Rust's str).
int DecodeUtf8(std::string_view s, size_t i, UChar32* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  UChar32 v;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  static constexpr UChar32 kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

absl::Status ValidateUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    UChar32 cp;
    int n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("text is not valid UTF-8 (invalid byte sequence at byte offset ", i, ")"));
    }
    i += n;
  }
  return absl::OkStatus();
}

void AppendUtf8(UChar32 cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Replaces every invalid UTF-8 sequence by U+FFFD (one per maximal invalid prefix byte,
// as Python's errors="replace" does for the common cases).
std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    UChar32 cp;
    int n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      // Skip continuation bytes that belonged to the broken sequence.
      while (i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

// ---- GPT-2 byte <-> unicode mapping ------------------------------------------------------

struct ByteLevelTables {
  std::string byte_to_utf8[256];
  std::unordered_map<UChar32, uint8_t> cp_to_byte;
  ByteLevelTables() {
    // Printable bytes map to themselves; the rest to 256, 257, ... in byte order.
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      UChar32 cp = printable ? b : 256 + next++;
      AppendUtf8(cp, &byte_to_utf8[b]);
      cp_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteLevelTables& ByteLevel() {
  static const ByteLevelTables* tables = new ByteLevelTables();
  return *tables;
}

// ---- Qwen pre-tokenizer --------------------------------------------------------------------
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// implemented as a scanner over code points with the regex's leftmost-first alternation and
// greedy/backtracking semantics. \s is the Unicode White_Space property, \p{L} / \p{N} the
// general categories.

bool IsLetter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }
bool IsNumber(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0; }
bool IsSpace(UChar32 c) { return u_isUWhiteSpace(c) != 0; }
bool IsNewline(UChar32 c) { return c == '\r' || c == '\n'; }

UChar32 Lower(UChar32 c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Returns the end (exclusive) of the match starting at i. Every position matches something.
size_t MatchAt(const std::vector<UChar32>& cp, size_t i) {
  const size_t n = cp.size();
  // 1. contractions
  if (cp[i] == '\'' && i + 1 < n) {
    UChar32 a = Lower(cp[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') {
      // 're / 've / 'll are tried before 'm / 'd in the pattern, but they cannot start with these.
      return i + 2;
    }
    if (i + 2 < n) {
      UChar32 b = Lower(cp[i + 2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  // 2. [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t j = i;
    if (!IsNewline(cp[j]) && !IsLetter(cp[j]) && !IsNumber(cp[j]) && j + 1 < n && IsLetter(cp[j + 1])) ++j;
    if (IsLetter(cp[j])) {
      while (j < n && IsLetter(cp[j])) ++j;
      return j;
    }
  }
  // 3. \p{N}
  if (IsNumber(cp[i])) return i + 1;
  // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  {
    auto other = [&](size_t k) { return k < n && !IsSpace(cp[k]) && !IsLetter(cp[k]) && !IsNumber(cp[k]); };
    size_t j = i;
    if (cp[j] == ' ' && other(j + 1)) ++j;
    if (other(j)) {
      while (other(j)) ++j;
      while (j < n && IsNewline(cp[j])) ++j;
      return j;
    }
  }
  // 5-7 need whitespace at i.
  size_t run_end = i;
  while (run_end < n && IsSpace(cp[run_end])) ++run_end;
  if (run_end > i) {
    // 5. \s*[\r\n]+ : up to and including the last newline of the run.
    for (size_t p = run_end; p > i; --p) {
      if (IsNewline(cp[p - 1])) return p;
    }
    // 6. \s+(?!\S) : the whole run at end of text, else all but its last character.
    if (run_end == n) return run_end;
    if (run_end - i >= 2) return run_end - 1;
    // 7. \s+
    return run_end;
  }
  return i + 1;  // unreachable: every character is a letter, number, space or "other"
}

}  // namespace

std::string ByteLevelChar(uint8_t byte) { return ByteLevel().byte_to_utf8[byte]; }

// ---- loading -------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const TextTokenizer>> TextTokenizer::LoadTokenizerJson(
    const std::string& path) {
  ASSIGN_OR_RETURN(nlohmann::json json, ReadJsonFile(path));
  JsonFields root(&json, path);
  RETURN_IF_ERROR(root.CheckIsObject());
  ASSIGN_OR_RETURN(JsonFields model, root.Object("model"));
  ASSIGN_OR_RETURN(std::string type, model.String("type", "BPE"));
  if (type != "BPE") {
    return absl::UnimplementedError(absl::StrCat(model.Where("type"), ": only BPE is supported, got '", type, "'"));
  }
  std::shared_ptr<TextTokenizer> tok(new TextTokenizer());
  ASSIGN_OR_RETURN(JsonFields vocab, model.Object("vocab"));
  for (auto it = vocab.json().begin(); it != vocab.json().end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(vocab.Where(it.key()), ": expected a non-negative id"));
    }
    tok->vocab_[it.key()] = it.value().get<int64_t>();
  }
  if (!model.Has("merges") || !model.json()["merges"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(model.Where("merges"), ": expected an array"));
  }
  int32_t rank = 0;
  for (const nlohmann::json& m : model.json()["merges"]) {
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      size_t space = s.find(' ');
      if (space == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(model.Where("merges"), "[", rank, "]: expected \"a b\""));
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(model.Where("merges"), "[", rank, "]: expected \"a b\" or [a, b]"));
    }
    tok->merge_rank_.emplace(left + '\x01' + right, rank++);
  }
  if (root.Has("added_tokens")) {
    if (!json["added_tokens"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(root.Where("added_tokens"), ": expected an array"));
    }
    for (const nlohmann::json& a : json["added_tokens"]) {
      JsonFields f(&a, path, "added_tokens[]");
      RETURN_IF_ERROR(f.CheckIsObject());
      AddedToken t;
      ASSIGN_OR_RETURN(t.content, f.String("content"));
      ASSIGN_OR_RETURN(t.id, f.Int("id"));
      ASSIGN_OR_RETURN(t.special, f.Bool("special", false));
      tok->added_.push_back(std::move(t));
    }
  }
  RETURN_IF_ERROR(tok->Finish(path));
  return std::shared_ptr<const TextTokenizer>(std::move(tok));
}

absl::StatusOr<std::shared_ptr<const TextTokenizer>> TextTokenizer::LoadVocabAndMerges(
    const std::string& vocab_json, const std::string& merges_txt, const std::string& tokenizer_config_json) {
  std::shared_ptr<TextTokenizer> tok(new TextTokenizer());
  ASSIGN_OR_RETURN(nlohmann::json vocab, ReadJsonFile(vocab_json));
  JsonFields vf(&vocab, vocab_json);
  RETURN_IF_ERROR(vf.CheckIsObject());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(vf.Where(it.key()), ": expected a non-negative id"));
    }
    tok->vocab_[it.key()] = it.value().get<int64_t>();
  }
  ASSIGN_OR_RETURN(std::string merges, ReadFileToString(merges_txt));
  std::istringstream lines(merges);
  std::string line;
  int32_t rank = 0;
  int64_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(merges_txt, ":", line_no, ": expected two tokens separated by one space"));
    }
    tok->merge_rank_.emplace(line.substr(0, space) + '\x01' + line.substr(space + 1), rank++);
  }
  if (!tokenizer_config_json.empty() && PathExists(tokenizer_config_json)) {
    ASSIGN_OR_RETURN(nlohmann::json config, ReadJsonFile(tokenizer_config_json));
    JsonFields cf(&config, tokenizer_config_json);
    RETURN_IF_ERROR(cf.CheckIsObject());
    ASSIGN_OR_RETURN(std::optional<JsonFields> added, cf.OptionalObject("added_tokens_decoder"));
    if (added.has_value()) {
      for (auto it = added->json().begin(); it != added->json().end(); ++it) {
        AddedToken t;
        char* end = nullptr;
        t.id = std::strtoll(it.key().c_str(), &end, 10);
        if (it.key().empty() || *end != '\0' || t.id < 0) {
          return absl::InvalidArgumentError(absl::StrCat(added->Where(it.key()), ": key must be a token id"));
        }
        JsonFields f(&it.value(), tokenizer_config_json, "added_tokens_decoder." + it.key());
        RETURN_IF_ERROR(f.CheckIsObject());
        ASSIGN_OR_RETURN(t.content, f.String("content"));
        ASSIGN_OR_RETURN(t.special, f.Bool("special", false));
        tok->added_.push_back(std::move(t));
      }
    }
  }
  RETURN_IF_ERROR(tok->Finish(vocab_json));
  return std::shared_ptr<const TextTokenizer>(std::move(tok));
}

absl::StatusOr<std::shared_ptr<const TextTokenizer>> TextTokenizer::LoadFromDir(const std::string& dir) {
  const std::string tokenizer_json = JoinPath(dir, "tokenizer.json");
  if (PathExists(tokenizer_json)) return LoadTokenizerJson(tokenizer_json);
  const std::string vocab = JoinPath(dir, "vocab.json");
  const std::string merges = JoinPath(dir, "merges.txt");
  if (!PathExists(vocab) || !PathExists(merges)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no tokenizer.json, and no vocab.json + merges.txt"));
  }
  return LoadVocabAndMerges(vocab, merges, JoinPath(dir, "tokenizer_config.json"));
}

absl::Status TextTokenizer::Finish(const std::string& source) {
  if (vocab_.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty vocabulary"));
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab_) max_id = std::max(max_id, id);
  for (const AddedToken& t : added_) {
    if (t.content.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": added token ", t.id, " is empty"));
    max_id = std::max(max_id, t.id);
  }
  if (max_id > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": token id ", max_id, " is implausibly large"));
  }
  id_to_token_.assign(max_id + 1, "");
  id_is_added_.assign(max_id + 1, 0);
  for (const auto& [token, id] : vocab_) id_to_token_[id] = token;
  for (const AddedToken& t : added_) {
    id_to_token_[t.id] = t.content;
    id_is_added_[t.id] = t.special ? 2 : 1;
  }
  // Every byte must be representable, or some texts could not be encoded.
  for (int b = 0; b < 256; ++b) {
    if (vocab_.count(ByteLevel().byte_to_utf8[b]) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": vocabulary lacks the byte-level token for byte ", b));
    }
  }
  for (const AddedToken& t : added_) added_first_bytes_[static_cast<uint8_t>(t.content[0])] = true;
  // Longest first, so that overlapping added tokens match the longest, as HF's trie does.
  std::stable_sort(added_.begin(), added_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  return absl::OkStatus();
}

// ---- encoding -------------------------------------------------------------------------------

absl::StatusOr<std::vector<int64_t>> TextTokenizer::Encode(std::string_view text,
                                                           bool parse_special_tokens) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 4);
  size_t start = 0;
  if (parse_special_tokens && !added_.empty()) {
    // Split on added tokens (leftmost, then longest), encoding the text between them.
    size_t i = 0;
    while (i < text.size()) {
      const AddedToken* hit = nullptr;
      if (added_first_bytes_[static_cast<uint8_t>(text[i])]) {
        for (const AddedToken& t : added_) {
          if (text.compare(i, t.content.size(), t.content) == 0) {
            hit = &t;
            break;
          }
        }
      }
      if (hit == nullptr) {
        ++i;
        continue;
      }
      RETURN_IF_ERROR(EncodePlain(text.substr(start, i - start), &ids));
      ids.push_back(hit->id);
      i += hit->content.size();
      start = i;
    }
  }
  RETURN_IF_ERROR(EncodePlain(text.substr(start), &ids));
  return ids;
}

absl::Status TextTokenizer::EncodePlain(std::string_view raw, std::vector<int64_t>* out) const {
  if (raw.empty()) return absl::OkStatus();
  // NFC normalization; ASCII is already normalized.
  std::string normalized;
  bool ascii = std::all_of(raw.begin(), raw.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
  if (ascii) {
    normalized.assign(raw);
  } else {
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
    if (U_FAILURE(err)) return absl::InternalError("ICU NFC normalizer unavailable");
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(raw.data(), static_cast<int32_t>(raw.size())));
    icu::UnicodeString n = nfc->normalize(u, err);
    if (U_FAILURE(err)) return absl::InternalError("ICU NFC normalization failed");
    n.toUTF8String(normalized);
  }
  // Code points and their byte offsets.
  std::vector<UChar32> cps;
  std::vector<size_t> offsets;
  cps.reserve(normalized.size());
  offsets.reserve(normalized.size() + 1);
  for (size_t i = 0; i < normalized.size();) {
    UChar32 cp;
    int n = DecodeUtf8(normalized, i, &cp);
    if (n == 0) return absl::InternalError("normalization produced invalid UTF-8");
    cps.push_back(cp);
    offsets.push_back(i);
    i += n;
  }
  offsets.push_back(normalized.size());
  const ByteLevelTables& bl = ByteLevel();
  std::string word;
  for (size_t i = 0; i < cps.size();) {
    size_t end = MatchAt(cps, i);
    word.clear();
    for (size_t b = offsets[i]; b < offsets[end]; ++b) word += bl.byte_to_utf8[static_cast<uint8_t>(normalized[b])];
    RETURN_IF_ERROR(EncodeWord(word, out));
    i = end;
  }
  return absl::OkStatus();
}

absl::Status TextTokenizer::EncodeWord(const std::string& word, std::vector<int64_t>* out) const {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = word_cache_.find(word);
    if (it != word_cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return absl::OkStatus();
    }
  }
  // Split into symbols (one byte-level character each).
  std::vector<std::string> symbols;
  for (size_t i = 0; i < word.size();) {
    UChar32 cp;
    int n = DecodeUtf8(word, i, &cp);
    symbols.emplace_back(word.substr(i, n));
    i += n;
  }
  // Repeatedly merge the lowest-ranked adjacent pair (all its occurrences, left to right).
  std::string key;
  while (symbols.size() > 1) {
    int32_t best = INT32_MAX;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      key.assign(symbols[k]).push_back('\x01');
      key.append(symbols[k + 1]);
      auto r = merge_rank_.find(key);
      if (r != merge_rank_.end() && r->second < best) best = r->second;
    }
    if (best == INT32_MAX) break;
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t k = 0; k < symbols.size();) {
      if (k + 1 < symbols.size()) {
        key.assign(symbols[k]).push_back('\x01');
        key.append(symbols[k + 1]);
        auto r = merge_rank_.find(key);
        if (r != merge_rank_.end() && r->second == best) {
          merged.push_back(symbols[k] + symbols[k + 1]);
          k += 2;
          continue;
        }
      }
      merged.push_back(std::move(symbols[k]));
      ++k;
    }
    symbols.swap(merged);
  }
  std::vector<int64_t> ids;
  ids.reserve(symbols.size());
  for (const std::string& s : symbols) {
    auto it = vocab_.find(s);
    if (it == vocab_.end()) {
      return absl::InternalError(absl::StrCat("BPE produced a symbol missing from the vocabulary"));
    }
    ids.push_back(it->second);
  }
  out->insert(out->end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (word_cache_.size() > 200000) word_cache_.clear();  // bound memory on adversarial input
  word_cache_.emplace(word, std::move(ids));
  return absl::OkStatus();
}

// ---- decoding -------------------------------------------------------------------------------

absl::StatusOr<std::string> TextTokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const ByteLevelTables& bl = ByteLevel();
  std::string bytes;
  for (size_t k = 0; k < ids.size(); ++k) {
    int64_t id = ids[k];
    if (id < 0 || id >= vocab_size() || (id_to_token_[id].empty() && id_is_added_[id] == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids[", k, "] = ", id, " is not a token id (vocabulary has ", vocab_size(), " ids)"));
    }
    if (id_is_added_[id] != 0) {
      if (skip_special_tokens && id_is_added_[id] == 2) continue;
      bytes += id_to_token_[id];  // added tokens are stored as plain text
      continue;
    }
    const std::string& token = id_to_token_[id];
    for (size_t i = 0; i < token.size();) {
      UChar32 cp;
      int n = DecodeUtf8(token, i, &cp);
      auto b = bl.cp_to_byte.find(cp);
      if (n == 0 || b == bl.cp_to_byte.end()) {
        bytes.append(token.substr(i, n == 0 ? 1 : n));
        i += n == 0 ? 1 : n;
        continue;
      }
      bytes.push_back(static_cast<char>(b->second));
      i += n;
    }
  }
  return SanitizeUtf8(bytes);
}

std::optional<int64_t> TextTokenizer::TokenToId(std::string_view token) const {
  for (const AddedToken& t : added_) {
    if (t.content == token) return t.id;
  }
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

}  // namespace qwen3tts
