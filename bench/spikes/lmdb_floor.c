// The floor of the store's per-message LMDB work when done in C: a design spike
// for issue 4, not project code (see bench/README.md, "bench_store.py").
//
// It mimics Session.add's LMDB traffic: 15 mega-shingle look-ups a message
// (three in four messages are copies of one of 300 active mailings, a fifth of
// their pair keys changed; the rest one-offs), a put for each key new or whose
// hour moved, the message and membership records, ~0.6 statistics records a
// message at commit, retention's resumable sweep of twice the new entries of
// each database, and an fsync'd commit every BATCH messages; 2,000 messages an
// hour and a 24-hour window, as bench_store.py runs. Build against liblmdb's
// own sources (the lmdb sdist ships them):
//
//   pip download --no-binary :all: --no-deps lmdb && tar xzf lmdb-*.tar.gz
//   L=$(ls -d lmdb-*/lib)
//   gcc -O2 -I$L bench/spikes/lmdb_floor.c $L/mdb.c $L/midl.c -lpthread -o lmdb_floor
//   ./lmdb_floor [MESSAGES] [BATCH] [DIR]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include "lmdb.h"
#define CHECK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %s\n", #x, mdb_strerror(rc_)); exit(1);} } while (0)
static uint64_t rng = 88172645463325252ULL;
static inline uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define POOL 300
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 300000; int batch = argc > 2 ? atoi(argv[2]) : 5000;
  const char *dir = argc > 3 ? argv[3] : "/tmp/lmdb_floor";
  char cmd[512]; snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  if (system(cmd) != 0) { fprintf(stderr, "cannot make %s\n", dir); return 1; }
  MDB_env *env; MDB_dbi mega, msgs, members, stats, meta;
  CHECK(mdb_env_create(&env)); CHECK(mdb_env_set_maxdbs(env, 8)); CHECK(mdb_env_set_mapsize(env, 8UL << 30));
  CHECK(mdb_env_open(env, dir, MDB_NORDAHEAD, 0644));
  MDB_txn *txn; CHECK(mdb_txn_begin(env, NULL, 0, &txn));
  CHECK(mdb_dbi_open(txn, "mega", MDB_CREATE, &mega)); CHECK(mdb_dbi_open(txn, "messages", MDB_CREATE, &msgs));
  CHECK(mdb_dbi_open(txn, "members", MDB_CREATE, &members)); CHECK(mdb_dbi_open(txn, "stats", MDB_CREATE, &stats));
  CHECK(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta));
  // mailings: a pool of active ones, each with 15 keys its copies share (copies: 75% of messages)
  uint64_t pool[POOL][15]; uint64_t pool_id[POOL]; uint64_t next_id = 1;
  for (int i = 0; i < POOL; i++) { pool_id[i] = next_id++; for (int k = 0; k < 15; k++) pool[i][k] = rnd(); }
  long added_mega = 0, added_msgs = 0, added_members = 0;
  unsigned char val[13], mval[96], sval[200]; memset(mval, 'm', 96); memset(sval, 's', 200);
  double start = cpu(), half = 0; long gets = 0, puts = 0, dels = 0;
  for (long i = 0; i < n; i++) {
    if (i == n / 2) half = cpu();
    uint32_t hour = (uint32_t)(i / 2000);
    int copy = (rnd() % 4) != 0; int m = rnd() % POOL;
    if (copy && rnd() % 40 == 0) { pool_id[m] = next_id++; for (int k = 0; k < 15; k++) pool[m][k] = rnd(); }
    uint64_t id = copy ? pool_id[m] : next_id++;
    for (int k = 0; k < 15; k++) {
      uint64_t key = copy ? pool[m][k] : rnd();
      if (copy && rnd() % 5 == 0) key = rnd(); // a changed pair
      MDB_val kv = {8, &key}, dv; gets++;
      int rc = mdb_get(txn, mega, &kv, &dv);
      uint32_t old_hour = rc == 0 ? *(uint32_t *)((char *)dv.mv_data + 9) : 0;
      if (rc != 0 || old_hour != hour) {
        val[0] = 1; memcpy(val + 1, &id, 8); memcpy(val + 9, &hour, 4);
        MDB_val nv = {13, val}; CHECK(mdb_put(txn, mega, &kv, &nv, 0)); puts++; added_mega += rc != 0;
      }
    }
    uint64_t mk[2] = {rnd(), rnd()}; MDB_val kk = {16, mk}, dv;
    gets++; mdb_get(txn, msgs, &kk, &dv);
    memcpy(mval + 9, &hour, 4); MDB_val mv = {96, mval}; CHECK(mdb_put(txn, msgs, &kk, &mv, 0)); puts++; added_msgs++;
    uint64_t memk[3] = {id, mk[0], mk[1]}; MDB_val mk2 = {24, memk}; unsigned char mb[5] = {1}; memcpy(mb + 1, &hour, 4);
    MDB_val mbv = {5, mb}; CHECK(mdb_put(txn, members, &mk2, &mbv, 0)); puts++; added_members++;
    if ((i + 1) % batch == 0 || i == n - 1) {
      // stats of the batch's dirty mailings (~0.6 per message)
      for (int s = 0; s < batch * 6 / 10; s++) { uint64_t sid = next_id - (rnd() % (batch)); memcpy(sval + 9, &hour, 4);
        MDB_val sk = {8, &sid}, sv = {200, sval}; CHECK(mdb_put(txn, stats, &sk, &sv, 0)); puts++; }
      // retention: scan 2x the new entries of each db, delete the expired
      uint32_t cutoff = hour > 24 ? hour - 24 : 0;
      MDB_dbi dbs[3] = {mega, msgs, members}; long budgets[3] = {2 * added_mega + 64, 2 * added_msgs + 64, 2 * added_members + 64};
      int at[3] = {9, 9, 1};
      for (int d = 0; d < 3; d++) {
        MDB_cursor *cur; CHECK(mdb_cursor_open(txn, dbs[d], &cur)); MDB_val k, v;
        static unsigned char mark[3][32]; static size_t mark_len[3];
        int rc;
        if (mark_len[d]) { k.mv_size = mark_len[d]; k.mv_data = mark[d]; rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); if (rc) rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); }
        else rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (long b = 0; b < budgets[d] && rc == 0; b++) {
          uint32_t h; memcpy(&h, (char *)v.mv_data + at[d], 4);
          if (h < cutoff) { CHECK(mdb_cursor_del(cur, 0)); dels++; rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT); if (rc) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); }
          else rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
          if (rc) rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); // go round
        }
        if (rc == 0) { memcpy(mark[d], k.mv_data, k.mv_size); mark_len[d] = k.mv_size; } else mark_len[d] = 0;
        mdb_cursor_close(cur);
      }
      added_mega = added_msgs = added_members = 0;
      CHECK(mdb_txn_commit(txn)); CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    }
  }
  mdb_txn_abort(txn);
  double end = cpu();
  MDB_envinfo info; mdb_env_info(env, &info); MDB_stat st; mdb_env_stat(env, &st);
  printf("%ld messages, batch %d: %.1f us/msg CPU overall, %.1f second half; %.1f gets, %.1f puts, %.1f deletes a message; file %.0f MB\n",
         n, batch, 1e6 * (end - start) / n, 1e6 * (end - half) / (n - n / 2), (double)gets / n, (double)puts / n, (double)dels / n,
         (info.me_last_pgno + 1) * (double)st.ms_psize / 1e6);
  mdb_env_close(env);
  return 0;
}
