// Runs the built `shoal` binary (SHOAL_BIN) on a tiny generated model and checks each verb: exact
// relations between verbs (logits argmax = first greedy token, perplexity = the NLL computed from
// `logits` on every prefix, run --json text = the streamed text), determinism, and clean errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_files.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int code = -1;  // exit status; 128 + signal when killed by a signal
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

using shoal::test_files::ReadAll;

std::string TmpDir() { return shoal::test_files::TestTmpDir("shoal_cli_test"); }

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

Result Shoal(const std::vector<std::string>& args) {
  const char* bin = std::getenv("SHOAL_BIN");
  EXPECT_NE(bin, nullptr) << "SHOAL_BIN is not set";
  std::string cmd = Quote(bin ? bin : "shoal");
  for (const std::string& a : args) {
    cmd += ' ';
    cmd += Quote(a);
  }
  const std::string err_path = TmpDir() + "/stderr.txt";
  cmd += " 2>" + Quote(err_path);
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  if (WIFSIGNALED(status)) {
    r.code = 128 + WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    r.code = WEXITSTATUS(status);
  }
  r.err = ReadAll(err_path);
  return r;
}

json ParseJson(const Result& r) {
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out << "\nstderr: " << r.err;
  return j;
}

// A failed verb: a clean exit (no signal, no abort), non-zero, one "shoal: error:" line.
void ExpectCleanError(const Result& r, const std::string& want_in_message = "") {
  EXPECT_GT(r.code, 0) << r.err;
  EXPECT_LT(r.code, 128) << "crashed: " << r.err;
  EXPECT_EQ(r.err.rfind("shoal: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  if (!want_in_message.empty()) {
    EXPECT_NE(r.err.find(want_in_message), std::string::npos) << r.err;
  }
}

const char kText[] =
    "The quick brown fox jumps over the lazy dog. A shoal of fish swims in the clear water, "
    "turning all at once as if it were one animal. Machines that share their memory can hold a "
    "model that no single one of them could load. ";

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = TmpDir();
    model_ = dir_ + "/tiny-f16.gguf";
    const Result r = Shoal({"gen-model", "-o", model_, "--arch", "llama", "--n-embd", "64",
                            "--n-layer", "2", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "128",
                            "--type", "f16", "--seed", "3"});
    ASSERT_EQ(r.code, 0) << r.err;
    text_path_ = dir_ + "/text.txt";
    std::string text;
    for (int i = 0; i < 6; ++i) text += kText;
    WriteAll(text_path_, text);
  }
  static std::string dir_, model_, text_path_;
};
std::string Cli::dir_, Cli::model_, Cli::text_path_;

std::vector<int32_t> Tokenize(const std::string& model, std::vector<std::string> extra) {
  std::vector<std::string> args = {"tokenize", "-m", model, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const Result r = Shoal(args);
  EXPECT_EQ(r.code, 0) << r.err;
  return ParseJson(r).get<std::vector<int32_t>>();
}

TEST_F(Cli, InspectDescribesTheFile) {
  const Result r = Shoal({"inspect", model_, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = ParseJson(r);
  EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
  EXPECT_EQ(j["metadata"]["llama.block_count"], 2);
  uint64_t sum = 0;
  for (const auto& t : j["tensors"]) sum += t["bytes"].get<uint64_t>();
  EXPECT_EQ(j["weight_bytes"].get<uint64_t>(), sum);
  EXPECT_EQ(j["tensors"].size(), 2u * 9 + 3);  // 9 per layer + token_embd, output_norm, output
  // K and V, 2 layers, 2 kv heads of 16, f16.
  EXPECT_EQ(j["kv_bytes_per_token"].get<uint64_t>(), 2u * 2 * 2 * 16 * 2);
  // The vocabulary is abbreviated.
  EXPECT_TRUE(j["metadata"]["tokenizer.ggml.tokens"].is_object());
  const Result text = Shoal({"inspect", model_});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("blk.1.ffn_down.weight"), std::string::npos);
  EXPECT_NE(text.out.find("f16"), std::string::npos);
}

TEST_F(Cli, TokenizeAddsBosAndReadsFilesByteForByte) {
  const Result insp = Shoal({"inspect", model_, "--json"});
  const int64_t bos = ParseJson(insp)["metadata"]["tokenizer.ggml.bos_token_id"].get<int64_t>();
  const std::vector<int32_t> ids = Tokenize(model_, {"-p", "Hello world"});
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], bos);
  const std::vector<int32_t> no_bos = Tokenize(model_, {"-p", "Hello world", "--no-bos"});
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end()), no_bos);

  WriteAll(dir_ + "/hello.txt", "Hello world");
  EXPECT_EQ(Tokenize(model_, {"-f", dir_ + "/hello.txt"}), ids);
  WriteAll(dir_ + "/hello_nl.txt", "Hello world\n");
  const std::vector<int32_t> with_nl = Tokenize(model_, {"-f", dir_ + "/hello_nl.txt"});
  EXPECT_GT(with_nl.size(), ids.size()) << "the trailing newline must be kept";
  EXPECT_EQ(std::vector<int32_t>(with_nl.begin(), with_nl.begin() + ids.size()), ids);
}

TEST_F(Cli, GreedyRunIsDeterministicAndMatchesStreamedText) {
  const std::vector<std::string> args = {"run", "-m", model_,   "-p", "Once upon a time",
                                         "-n",  "12", "--temp", "0",  "--json"};
  const Result a = Shoal(args), b = Shoal(args);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const json ja = ParseJson(a), jb = ParseJson(b);
  EXPECT_EQ(ja["tokens"], jb["tokens"]);
  EXPECT_EQ(ja["text"], jb["text"]);
  EXPECT_LE(ja["tokens"].size(), 12u);
  EXPECT_EQ(ja["prompt_tokens"].get<size_t>(), Tokenize(model_, {"-p", "Once upon a time"}).size());
  for (const char* k : {"prompt_ms", "prompt_tok_s", "decode_ms", "decode_tok_s"}) {
    EXPECT_TRUE(ja["timings"][k].is_number()) << k;
  }
  // Without --json the same tokens are streamed as text on stdout, timings on stderr.
  std::vector<std::string> plain(args.begin(), args.end() - 1);
  const Result s = Shoal(plain);
  ASSERT_EQ(s.code, 0) << s.err;
  // stdout carries the raw bytes of the tokens; JSON must be valid UTF-8, so bytes that do not
  // form UTF-8 (common in a random-weight model's output) become U+FFFD there.
  const std::string streamed = json(s.out).dump(-1, ' ', false, json::error_handler_t::replace);
  EXPECT_EQ(streamed, json(ja["text"].get<std::string>() + "\n").dump());
  EXPECT_NE(s.err.find("tok/s"), std::string::npos) << s.err;
}

TEST_F(Cli, SeededSamplingIsDeterministic) {
  auto run = [&](const std::string& seed) {
    const Result r =
        Shoal({"run", "-m", model_, "-p", "Once upon a time", "-n", "16", "--temp", "1.5",
               "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", seed, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return ParseJson(r)["tokens"];
  };
  const json a = run("7");
  EXPECT_EQ(a, run("7"));
  EXPECT_NE(a, run("8"));  // 16 tokens at temperature 1.5: equal by chance is negligible
}

TEST_F(Cli, LogitsFileIsNVocabFloatsAndItsArgmaxIsTheGreedyToken) {
  const std::string out = dir_ + "/logits.f32";
  const Result r = Shoal({"logits", "-m", model_, "-p", "Once upon a time", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string bytes = ReadAll(out);
  const json insp = ParseJson(Shoal({"inspect", model_, "--json"}));
  const size_t n_vocab = insp["metadata"]["tokenizer.ggml.tokens"]["n"].get<size_t>();
  ASSERT_EQ(bytes.size(), n_vocab * 4);
  std::vector<float> logits(n_vocab);
  std::memcpy(logits.data(), bytes.data(), bytes.size());
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  const int32_t argmax =
      static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const Result g =
      Shoal({"run", "-m", model_, "-p", "Once upon a time", "-n", "1", "--temp", "0", "--json"});
  ASSERT_EQ(g.code, 0) << g.err;
  const json jg = ParseJson(g);
  if (jg["stop"] == "eog") GTEST_SKIP() << "greedy token is end-of-generation";
  EXPECT_EQ(jg["tokens"][0].get<int32_t>(), argmax);
}

TEST_F(Cli, PerplexityMatchesNllFromLogitsOfEveryPrefix) {
  const int ctx = 16;
  const Result r =
      Shoal({"perplexity", "-m", model_, "-f", text_path_, "-c", std::to_string(ctx), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = ParseJson(r);
  const std::vector<int32_t> ids = Tokenize(model_, {"-f", text_path_});
  const int64_t n_chunks = static_cast<int64_t>(ids.size()) / ctx;
  EXPECT_EQ(j["n_chunks"].get<int64_t>(), n_chunks);
  EXPECT_EQ(j["ctx"].get<int>(), ctx);
  EXPECT_EQ(j["tokens_scored"].get<int64_t>(), n_chunks * (ctx - ctx / 2 - 1));
  const double ppl = j["ppl"].get<double>();
  EXPECT_TRUE(std::isfinite(ppl));
  EXPECT_GT(ppl, 1.0);

  // The first chunk by hand: BOS in place of its first token, positions ctx/2 .. ctx-2 each
  // predicting the next token, every prefix evaluated from scratch by `logits --ids`.
  const Result one = Shoal({"perplexity", "-m", model_, "-f", text_path_, "-c", std::to_string(ctx),
                            "--chunks", "1", "--json"});
  ASSERT_EQ(one.code, 0) << one.err;
  std::vector<int32_t> chunk(ids.begin(), ids.begin() + ctx);
  chunk[0] = ids[0];  // the text was tokenized with BOS, so ids[0] is BOS already
  double nll = 0;
  int n = 0;
  for (int k = ctx / 2; k + 1 < ctx; ++k) {
    std::string list;
    for (int i = 0; i <= k; ++i) {
      if (i) list += ',';
      list += std::to_string(chunk[i]);
    }
    const std::string out = dir_ + "/prefix.f32";
    const Result lr = Shoal({"logits", "-m", model_, "--ids", list, "-o", out});
    ASSERT_EQ(lr.code, 0) << lr.err;
    const std::string bytes = ReadAll(out);
    std::vector<float> l(bytes.size() / 4);
    std::memcpy(l.data(), bytes.data(), bytes.size());
    double mx = -1e300, sum = 0;
    for (float x : l) mx = std::max(mx, double(x));
    for (float x : l) sum += std::exp(double(x) - mx);
    nll += std::log(sum) + mx - l[static_cast<size_t>(chunk[k + 1])];
    ++n;
  }
  const double want = std::exp(nll / n);
  EXPECT_NEAR(ParseJson(one)["ppl"].get<double>(), want, 2e-3 * want);
}

// `shoal id` hashing a model it has not hashed before: a progress line when stderr is a terminal
// (run under util-linux's `script`, which gives it one), nothing more than its summary when not.
TEST_F(Cli, IdShowsHashingProgressOnATerminal) {
  if (std::system("script -qec true /dev/null >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no util-linux script here to give the command a terminal";
  }
  const char* bin = std::getenv("SHOAL_BIN");
  ASSERT_NE(bin, nullptr);
  const std::string cache = dir_ + "/id-cache";
  fs::remove_all(cache);
  const std::string cmd = "SHOAL_CACHE=" + Quote(cache) + " " + Quote(bin) + " id " + Quote(model_);
  const std::string out_path = dir_ + "/id-tty.txt";
  ASSERT_EQ(std::system(("script -qec " + Quote(cmd) + " /dev/null >" + Quote(out_path)).c_str()),
            0);
  EXPECT_NE(ReadAll(out_path).find("shoal: hashing the model"), std::string::npos)
      << ReadAll(out_path);
  fs::remove_all(cache);
  setenv("SHOAL_CACHE", cache.c_str(), 1);
  const Result plain = Shoal({"id", model_});
  unsetenv("SHOAL_CACHE");
  EXPECT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.err.find("hashing the model"), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find("hashed"), std::string::npos) << plain.err;
  fs::remove_all(cache);
}

TEST_F(Cli, BenchPrintsJson) {
  const Result r = Shoal({"bench", "--model", model_, "--threads", "1", "--reps", "1", "-n", "2",
                          "--pp", "4", "--membw-mib", "8", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = ParseJson(r);
  EXPECT_TRUE(j["machine"]["mem_read"][0]["read_gb_s"].is_number());
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["test"], "pp4");
  EXPECT_EQ(j["results"][1]["test"], "tg2");
  EXPECT_GT(j["results"][1]["tok_s"].get<double>(), 0);
}

// --serve: every stream count of every round served (none failed), each round's ratios taken
// against that round's own figures.
TEST_F(Cli, BenchServePrintsRatiosPerRound) {
  const Result r = Shoal({"bench", "--serve", "--model", model_, "--threads", "1", "--reps", "2",
                          "-n", "8", "--streams", "1,2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = ParseJson(r);
  ASSERT_EQ(j["results"].size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    const json& x = j["results"][k];
    EXPECT_EQ(x["streams"], int(k + 1));
    EXPECT_EQ(x["failed_streams"], 0);
    ASSERT_EQ(x["aggregate_decode_tok_s_runs"].size(), 2u);
    ASSERT_EQ(x["engine_alone_tg_tok_s_runs"].size(), 2u);
    for (size_t round = 0; round < 2; ++round) {
      const double agg = x["aggregate_decode_tok_s_runs"][round].get<double>();
      const double alone = x["engine_alone_tg_tok_s_runs"][round].get<double>();
      const double one = j["results"][0]["aggregate_decode_tok_s_runs"][round].get<double>();
      EXPECT_GT(agg, 0);
      EXPECT_NEAR(x["x_engine_alone_runs"][round].get<double>(), agg / alone, 1e-9);
      EXPECT_NEAR(x["x_one_stream_runs"][round].get<double>(), agg / one, 1e-9);
      // The steady window (every stream decoding) and the whole run's output rate.
      const double steady = x["steady_decode_tok_s_runs"][round].get<double>();
      const double steady_one = j["results"][0]["steady_decode_tok_s_runs"][round].get<double>();
      EXPECT_GT(x["output_tok_s_runs"][round].get<double>(), 0);
      EXPECT_GE(steady, 0);
      if (k == 0 && steady > 0) {
        // One stream: the tokens after the first over the time to the last token, which the
        // aggregate's window (to the response's end) contains. (0: this tiny model's tokens
        // all came in one read.)
        EXPECT_GE(steady, agg * (1 - 1e-9));
      } else if (steady_one > 0) {
        EXPECT_NEAR(x["x_one_stream_steady_runs"][round].get<double>(), steady / steady_one, 1e-9);
      }
    }
  }
}

// --depth and --attention: every (depth, path) pair measured, labelled; the int8 peak of every
// path this CPU offers, and prefill's share of it.
TEST_F(Cli, BenchAtDepthBothAttentionPaths) {
  const Result r =
      Shoal({"bench", "--model", model_, "--threads", "1", "--reps", "1", "-n", "2", "--pp", "4",
             "--membw-mib", "8", "--depth", "0,20", "--attention", "tiled,naive", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = ParseJson(r);
  ASSERT_EQ(j["results"].size(), 8u);
  int i = 0;
  for (int depth : {0, 20}) {
    for (const char* path : {"tiled", "naive"}) {
      for (const char* test : {"pp4", "tg2"}) {
        const json& x = j["results"][size_t(i++)];
        EXPECT_EQ(x["n_depth"], depth);
        EXPECT_EQ(x["attention"], path);
        EXPECT_EQ(x["test"], test);
        EXPECT_GT(x["tok_s"].get<double>(), 0);
      }
      const json& pp = j["results"][size_t(i - 2)];
      EXPECT_GT(pp["prefill_share_of_int8_peak"].get<double>(), 0);
      // matmul_gops = tok/s x ops per token: the same ops per token in every row.
      EXPECT_NEAR(
          pp["matmul_gops"].get<double>() / pp["tok_s"].get<double>(),
          j["results"][0]["matmul_gops"].get<double>() / j["results"][0]["tok_s"].get<double>(),
          1e-9);
    }
  }
  std::set<std::string> paths;
  for (const json& p : j["machine"]["int8_peak"]) {
    paths.insert(p["path"].get<std::string>());
    EXPECT_GT(p["gops"].get<double>(), 0);
  }
  EXPECT_TRUE(paths.count("scalar"));
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_TRUE(paths.count("avx2_maddubs"));
  }
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
    EXPECT_TRUE(paths.count("avx512_vnni_512"));
  }
#endif
  EXPECT_TRUE(paths.count(j["machine"]["int8_peak_path"].get<std::string>()));
}

// --matmul: the vector tiles everywhere; where the CPU and OS have AMX, the AMX tiles beside them,
// each result labelled, the AMX row also against the matrix unit's own peak; elsewhere a clear
// error.
TEST_F(Cli, BenchMatmulPaths) {
  const std::vector<std::string> base = {"bench",  "--model", model_,        "--threads", "1",
                                         "--reps", "1",       "-n",          "1",         "--pp",
                                         "40",     "--json",  "--membw-mib", "8"};
  std::vector<std::string> args = base;
  args.insert(args.end(), {"--matmul", "vector"});
  Result r = Shoal(args);
  ASSERT_EQ(r.code, 0) << r.err;
  json j = ParseJson(r);
  ASSERT_EQ(j["results"].size(), 2u);
  for (const json& x : j["results"]) EXPECT_EQ(x["matmul"], "vector");
  EXPECT_FALSE(j["results"][0].contains("prefill_share_of_amx_peak"));
  const bool amx = j["machine"]["amx_int8"].get<bool>();
  std::printf("AMX int8 tiles: %s\n", amx ? "available" : "not available here");
  // Without --matmul: the process's default, AMX where available unless SHOAL_AMX=0.
  r = Shoal(base);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["results"][0]["matmul"], amx ? "amx" : "vector");
  setenv("SHOAL_AMX", "0", 1);
  r = Shoal(base);
  unsetenv("SHOAL_AMX");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["results"][0]["matmul"], "vector");
  args = base;
  args.insert(args.end(), {"--matmul", "amx,vector"});
  if (!amx) {
    ExpectCleanError(Shoal(args), "AMX");
    return;
  }
  r = Shoal(args);
  ASSERT_EQ(r.code, 0) << r.err;
  j = ParseJson(r);
  ASSERT_EQ(j["results"].size(), 4u);
  EXPECT_EQ(j["results"][0]["matmul"], "amx");
  EXPECT_EQ(j["results"][2]["matmul"], "vector");
  EXPECT_GT(j["results"][0]["prefill_share_of_amx_peak"].get<double>(), 0);
  EXPECT_FALSE(j["results"][2].contains("prefill_share_of_amx_peak"));
  bool probed = false;
  for (const json& p : j["machine"]["int8_peak"]) probed |= p["path"] == "amx_int8";
  EXPECT_TRUE(probed);
  EXPECT_NE(j["machine"]["int8_peak_path"], "amx_int8");  // the vector peak stays the reference
}

TEST_F(Cli, BadInputsFailCleanly) {
  const std::string missing = dir_ + "/no-such-file.gguf";
  ExpectCleanError(Shoal({"inspect", missing}), "no-such-file");
  ExpectCleanError(Shoal({"run", "-m", missing, "-p", "x"}), "no-such-file");
  ExpectCleanError(Shoal({"tokenize", "-m", missing, "-p", "x"}), "no-such-file");
  ExpectCleanError(Shoal({"logits", "-m", missing, "-p", "x", "-o", dir_ + "/x.f32"}));
  ExpectCleanError(Shoal({"perplexity", "-m", missing, "-f", text_path_}));
  ExpectCleanError(Shoal({"run", "-m", model_, "-f", dir_ + "/no-such-prompt.txt"}),
                   "no-such-prompt");

  // A truncated file and random bytes, through every verb that opens a model.
  const std::string whole = ReadAll(model_);
  const std::string trunc = dir_ + "/truncated.gguf";
  WriteAll(trunc, whole.substr(0, whole.size() / 2));
  std::string noise(4096, '\0');
  uint64_t x = 12345;
  for (char& c : noise) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>(x >> 56);
  }
  const std::string rnd = dir_ + "/random.gguf";
  WriteAll(rnd, noise);
  std::string magic_noise = noise;
  magic_noise.replace(0, 4, "GGUF");
  const std::string rnd2 = dir_ + "/random-magic.gguf";
  WriteAll(rnd2, magic_noise);
  for (const std::string& bad : {trunc, rnd, rnd2}) {
    ExpectCleanError(Shoal({"inspect", bad}));
    ExpectCleanError(Shoal({"run", "-m", bad, "-p", "x", "-n", "2"}));
    ExpectCleanError(Shoal({"tokenize", "-m", bad, "-p", "x"}));
    ExpectCleanError(Shoal({"logits", "-m", bad, "-p", "x", "-o", dir_ + "/x.f32"}));
  }

  // Flags.
  ExpectCleanError(Shoal({"gen-model", "-o", dir_ + "/x.gguf", "--type", "q9_9"}), "q9_9");
  ExpectCleanError(Shoal({"gen-model", "-o", dir_ + "/x.gguf", "--arch", "nonesuch"}));
  ExpectCleanError(Shoal({"run", "-m", model_, "-p", "x", "--no-such-flag"}));
  ExpectCleanError(Shoal({"run", "-m", model_, "-p", "x", "-f", text_path_}));
  ExpectCleanError(Shoal({"run", "-m", model_, "-p", "x", "-n", "abc"}));
  ExpectCleanError(Shoal({"bench", "--model", model_, "--threads", "0"}));
  ExpectCleanError(Shoal({"bench", "--model", model_, "--depth", "-1"}), "depth");
  ExpectCleanError(Shoal({"bench", "--model", model_, "--attention", "fast"}), "fast");
  ExpectCleanError(Shoal({"bench", "--model", model_, "--matmul", "gpu"}), "gpu");
  ExpectCleanError(Shoal({"nonesuch-verb"}));
  ExpectCleanError(Shoal({"logits", "-m", model_, "--ids", "1,999999999", "-o", dir_ + "/x"}));
  ExpectCleanError(Shoal({"perplexity", "-m", model_, "-f", text_path_, "-c", "100000"}));
  // A context no machine has memory for.
  ExpectCleanError(Shoal({"run", "-m", model_, "-p", "x", "-c", "2000000000"}), "memory");
}

}  // namespace

TEST_F(Cli, TokenizeParsesSpecialTokensByDefault) {
  const json md = ParseJson(Shoal({"inspect", model_, "--json"}))["metadata"];
  const int32_t eot = md["tokenizer.ggml.eot_token_id"].get<int32_t>();
  const std::vector<int32_t> parsed = Tokenize(model_, {"-p", "<|eot_id|>", "--no-bos"});
  EXPECT_EQ(parsed, std::vector<int32_t>{eot});
  const std::vector<int32_t> plain =
      Tokenize(model_, {"-p", "<|eot_id|>", "--no-bos", "--no-parse-special"});
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), eot), 0);
}

TEST_F(Cli, TemplateRendersAndTokenizesWithoutDoubleBos) {
  const std::string msgs = dir_ + "/messages.json";
  WriteAll(msgs,
           R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])");
  // The generated model has no chat template: a clean error unless a fallback is asked for.
  ExpectCleanError(Shoal({"template", "-m", model_, "--messages", msgs}), "no chat template");
  const Result r = Shoal({"template", "-m", model_, "--messages", msgs, "--fallback", "llama3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  const Result rj =
      Shoal({"template", "-m", model_, "--messages", msgs, "--fallback", "llama3", "--json"});
  ASSERT_EQ(rj.code, 0) << rj.err;
  const json j = ParseJson(rj);
  EXPECT_EQ(j["prompt"], r.out);
  // The template wrote BOS, so the tokens are the text's own (special tokens parsed), once.
  WriteAll(dir_ + "/prompt.txt", r.out);
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(),
            Tokenize(model_, {"-f", dir_ + "/prompt.txt", "--no-bos"}));
  const int64_t bos =
      ParseJson(Shoal({"inspect", model_, "--json"}))["metadata"]["tokenizer.ggml.bos_token_id"]
          .get<int64_t>();
  EXPECT_EQ(j["tokens"][0].get<int64_t>(), bos);
  EXPECT_NE(j["tokens"][1].get<int64_t>(), bos);
  // --no-generation-prompt leaves the assistant turn closed.
  const Result ng = Shoal({"template", "-m", model_, "--messages", msgs, "--fallback", "llama3",
                           "--no-generation-prompt"});
  ASSERT_EQ(ng.code, 0) << ng.err;
  EXPECT_EQ(ng.out + "<|start_header_id|>assistant<|end_header_id|>\n\n", r.out);
  // With -m, a template file replaces the model's template; bos_token still comes from the model.
  WriteAll(dir_ + "/bos.jinja", "{{ bos_token }}[{{ messages | length }}]");
  const Result ov =
      Shoal({"template", "-m", model_, "--template-file", dir_ + "/bos.jinja", "--messages", msgs});
  ASSERT_EQ(ov.code, 0) << ov.err;
  EXPECT_EQ(ov.out, "<|begin_of_text|>[2]");
  // A template that raises is a clean error with its line:column.
  WriteAll(dir_ + "/raise.jinja", "ok\n{{ raise_exception('nope') }}");
  ExpectCleanError(
      Shoal({"template", "--template-file", dir_ + "/raise.jinja", "--messages", msgs}),
      "2:4: template raised an exception: nope");
  WriteAll(dir_ + "/bad.json", "[{");
  ExpectCleanError(Shoal({"template", "--template-file", dir_ + "/raise.jinja", "--messages",
                          dir_ + "/bad.json"}),
                   "not valid JSON");
}
