/* The RBM core (include/dagnet/rbm.h) on models small enough to enumerate:
 * conditionals against the formulas, fast kernels against their reference
 * twins, exact log Z against a brute-force double sum over all (v, h), AIS
 * against exact log Z, CD/PCD raising the exact log-likelihood, thread
 * invariance, and the errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dagnet/rbm.h"
#include "dagnet/cpu.h"
#include "check.h"

#define NV 6
#define NH 4

static float W[NH * NV], b[NV], c[NH];

static void random_model(float scale)
{
    for (int i = 0; i < NH * NV; i++) W[i] = frand(-scale, scale);
    for (int i = 0; i < NV; i++) b[i] = frand(-0.5f, 0.5f);
    for (int j = 0; j < NH; j++) c[j] = frand(-0.5f, 0.5f);
}

/* log sum over all (v, h) of e^-E, E = -b.v - c.h - h W v (seed 000, 9.2) */
static double brute_log_z(const dn_rbm *m)
{
    const int nv = (int)m->n_visible, nh = (int)m->n_hidden;
    double mx = -INFINITY, s = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int vs = 0; vs < 1 << nv; vs++)
            for (int hs = 0; hs < 1 << nh; hs++) {
                double ne = 0;
                for (int i = 0; i < nv; i++) ne += (vs >> i & 1) * (double)m->b[i];
                for (int j = 0; j < nh; j++) {
                    if (!(hs >> j & 1)) continue;
                    ne += m->c[j];
                    for (int i = 0; i < nv; i++) ne += (vs >> i & 1) * (double)m->W[j * nv + i];
                }
                if (pass == 0) mx = ne > mx ? ne : mx;
                else s += exp(ne - mx);
            }
    return mx + log(s);
}

/* the toy data: noisy copies of two prototypes */
static void toy_data(float *X, int n)
{
    static const float p[2][NV] = {{1, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 1, 1}};
    for (int r = 0; r < n; r++)
        for (int i = 0; i < NV; i++) {
            float x = p[r % 2][i];
            X[r * NV + i] = frand(0, 1) < 0.05f ? 1 - x : x;
        }
}

static double mean_log_lik(const dn_rbm *m, const float *X, int n)
{
    double F[64], lz = 0, s = 0;
    CHECK(dn_rbm_free_energy(m, X, n, F, 1) == DN_OK, "free energy: %s", dn_last_error());
    CHECK(dn_rbm_log_z_exact(m, 1, &lz) == DN_OK, "log z: %s", dn_last_error());
    for (int r = 0; r < n; r++) s += -F[r] - lz;
    return s / n;
}

static void test_conditionals(void)
{
    random_model(1.0f);
    dn_rbm m = {NV, NH, DN_RBM_BERNOULLI, W, b, c};
    float v[3 * NV], ph[3 * NH], ph_ref[3 * NH], h[3 * NH], mv[3 * NV], mv_ref[3 * NV];
    for (int i = 0; i < 3 * NV; i++) v[i] = frand(0, 1) < 0.5f;
    for (int i = 0; i < 3 * NH; i++) h[i] = frand(0, 1) < 0.5f;
    CHECK(dn_rbm_hidden_probs(&m, v, 3, ph, 0) == DN_OK, "%s", dn_last_error());
    CHECK(dn_rbm_visible_means(&m, h, 3, mv, 0) == DN_OK, "%s", dn_last_error());
    for (int r = 0; r < 3; r++) {
        for (int j = 0; j < NH; j++) {
            double x = c[j];
            for (int i = 0; i < NV; i++) x += (double)W[j * NV + i] * v[r * NV + i];
            double want = 1 / (1 + exp(-x));
            CHECK(fabs(ph[r * NH + j] - want) < 1e-6, "p(h|v)[%d,%d] %g vs %g", r, j, ph[r * NH + j], want);
        }
        for (int i = 0; i < NV; i++) {
            double x = b[i];
            for (int j = 0; j < NH; j++) x += (double)W[j * NV + i] * h[r * NH + j];
            double want = 1 / (1 + exp(-x));
            CHECK(fabs(mv[r * NV + i] - want) < 1e-6, "p(v|h)[%d,%d] %g vs %g", r, i, mv[r * NV + i], want);
        }
    }
    /* the reference twins agree */
    int prev = dn_set_reference_mode(1);
    dn_rbm_hidden_probs(&m, v, 3, ph_ref, 0);
    dn_rbm_visible_means(&m, h, 3, mv_ref, 0);
    double F_ref[3], pl_ref[3];
    dn_rbm_free_energy(&m, v, 3, F_ref, 0);
    dn_rbm_pseudo_likelihood(&m, v, 3, NULL, pl_ref, 0);
    dn_set_reference_mode(prev);
    double F[3], pl[3];
    dn_rbm_free_energy(&m, v, 3, F, 0);
    dn_rbm_pseudo_likelihood(&m, v, 3, NULL, pl, 0);
    for (int i = 0; i < 3 * NH; i++) CHECK(fabsf(ph[i] - ph_ref[i]) < 1e-6f, "ref p(h|v) %d", i);
    for (int i = 0; i < 3 * NV; i++) CHECK(fabsf(mv[i] - mv_ref[i]) < 1e-6f, "ref p(v|h) %d", i);
    for (int r = 0; r < 3; r++) {
        CHECK(fabs(F[r] - F_ref[r]) < 1e-5, "free energy %g vs ref %g", F[r], F_ref[r]);
        CHECK(fabs(pl[r] - pl_ref[r]) < 1e-4, "pseudo-likelihood %g vs ref %g", pl[r], pl_ref[r]);
    }
}

static void test_log_z(void)
{
    random_model(1.0f);
    dn_rbm m = {NV, NH, DN_RBM_BERNOULLI, W, b, c};
    double lz = 0, want = brute_log_z(&m);
    CHECK(dn_rbm_log_z_exact(&m, 0, &lz) == DN_OK, "%s", dn_last_error());
    CHECK(fabs(lz - want) < 1e-9, "exact log Z %.12f vs brute force %.12f", lz, want);
    /* the other direction: enumerate v when the visible layer is smaller */
    static float Wt[NH * NV];
    for (int j = 0; j < NH; j++)
        for (int i = 0; i < NV; i++) Wt[i * NH + j] = W[j * NV + i];
    dn_rbm mt = {NH, NV, DN_RBM_BERNOULLI, Wt, c, b};
    CHECK(dn_rbm_log_z_exact(&mt, 0, &lz) == DN_OK && fabs(lz - want) < 1e-9,
          "log Z of the transposed model %.12f vs %.12f", lz, want);
    dn_rbm_ais_config cfg;
    dn_rbm_ais_default(&cfg);
    cfg.n_runs = 100;
    cfg.n_betas = 2000;
    cfg.seed = 1;
    dn_rbm_ais_result res;
    double lw[100];
    CHECK(dn_rbm_log_z_ais(&m, &cfg, 0, &res, lw) == DN_OK, "%s", dn_last_error());
    CHECK(fabs(res.log_z - want) < 0.1, "AIS log Z %g vs exact %g", res.log_z, want);
    CHECK(res.rel_se > 0 && res.rel_se < 0.1, "AIS spread %g", res.rel_se);
    dn_rbm_ais_result res2;
    dn_rbm_log_z_ais(&m, &cfg, 1, &res2, NULL);
    CHECK(res.log_z == res2.log_z, "AIS differs between thread counts: %.17g vs %.17g", res.log_z,
          res2.log_z);
}

static void test_training(void)
{
    enum { N = 40 };
    static float X[N * NV];
    toy_data(X, N);
    for (int method = 0; method < 2; method++) {
        for (int i = 0; i < NH * NV; i++) W[i] = frand(-0.01f, 0.01f);
        memset(b, 0, sizeof b);
        memset(c, 0, sizeof c);
        dn_rbm m = {NV, NH, DN_RBM_BERNOULLI, W, b, c};
        double before = mean_log_lik(&m, X, N);
        dn_rbm_train_config cfg;
        dn_rbm_train_default(&cfg);
        cfg.method = method ? DN_RBM_PCD : DN_RBM_CD;
        cfg.shuffle = 1;
        cfg.monitor = 1;
        float chains[10 * NH] = {0};
        dn_rbm_train_state st = {chains, 10, NULL, NULL, NULL, 0};
        double err = 0;
        for (int e = 0; e < 80; e++)
            CHECK(dn_rbm_train_epoch(&m, &cfg, &st, X, N, 0, &err) == DN_OK, "%s", dn_last_error());
        double after = mean_log_lik(&m, X, N);
        CHECK(st.epoch == 80, "epoch counter %lld", (long long)st.epoch);
        CHECK(after > before + 1.0, "%s: log-likelihood %g -> %g", method ? "PCD" : "CD", before, after);
        CHECK(err > 0 && err < 1.5, "reconstruction error %g", err);
    }
}

static void test_threads(void)
{
    enum { N = 300, V = 40, H = 50 };
    static float X[N * V], w1[H * V], w2[H * V], b1[V], b2[V], c1[H], c2[H], ch1[20 * H], ch2[20 * H];
    for (int i = 0; i < N * V; i++) X[i] = frand(0, 1) < 0.3f;
    for (int i = 0; i < H * V; i++) w1[i] = w2[i] = frand(-0.1f, 0.1f);
    memset(b1, 0, sizeof b1);
    memset(b2, 0, sizeof b2);
    memset(c1, 0, sizeof c1);
    memset(c2, 0, sizeof c2);
    memset(ch1, 0, sizeof ch1);
    memset(ch2, 0, sizeof ch2);
    dn_rbm m1 = {V, H, DN_RBM_BERNOULLI, w1, b1, c1}, m2 = {V, H, DN_RBM_BERNOULLI, w2, b2, c2};
    dn_rbm_train_config cfg;
    dn_rbm_train_default(&cfg);
    cfg.method = DN_RBM_PCD;
    cfg.k = 2;
    cfg.batch_size = 64;
    cfg.shuffle = 1;
    dn_rbm_train_state s1 = {ch1, 20, NULL, NULL, NULL, 0}, s2 = {ch2, 20, NULL, NULL, NULL, 0};
    for (int e = 0; e < 3; e++) {
        dn_rbm_train_epoch(&m1, &cfg, &s1, X, N, 1, NULL);
        dn_rbm_train_epoch(&m2, &cfg, &s2, X, N, 2, NULL);
    }
    CHECK(!memcmp(w1, w2, sizeof w1) && !memcmp(b1, b2, sizeof b1) && !memcmp(c1, c2, sizeof c1) &&
              !memcmp(ch1, ch2, sizeof ch1),
          "training differs between 1 and 2 threads");
    static float v1[N * V], v2[N * V], h1[N * H], h2[N * H];
    memcpy(v1, X, sizeof X);
    memcpy(v2, X, sizeof X);
    dn_rbm_gibbs(&m1, N, 3, 0, v1, h1, NULL, NULL, 7, 1, 0, 1);
    dn_rbm_gibbs(&m1, N, 3, 0, v2, h2, NULL, NULL, 7, 1, 0, 2);
    CHECK(!memcmp(v1, v2, sizeof v1) && !memcmp(h1, h2, sizeof h1), "Gibbs differs between thread counts");
    memcpy(v2, X, sizeof X);
    dn_rbm_gibbs(&m1, N, 3, 0, v2, h2, NULL, NULL, 7, 1, dn_rbm_gibbs_positions(&m1, N, 3), 2);
    CHECK(memcmp(v1, v2, sizeof v1), "Gibbs at a later offset repeats the same draws");
}

static void test_errors(void)
{
    dn_rbm m = {NV, 0, DN_RBM_BERNOULLI, W, b, c};
    float v[NV] = {0}, ph[NH];
    CHECK(dn_rbm_hidden_probs(&m, v, 1, ph, 0) == DN_ERR_INVALID && strstr(dn_last_error(), "n_hidden"),
          "zero hidden units: %s", dn_last_error());
    m.n_hidden = NH;
    m.W = NULL;
    CHECK(dn_rbm_hidden_probs(&m, v, 1, ph, 0) == DN_ERR_INVALID, "W = NULL accepted");
    m.W = W;
    m.visible = DN_RBM_GAUSSIAN;
    double pl;
    CHECK(dn_rbm_pseudo_likelihood(&m, v, 1, NULL, &pl, 0) == DN_ERR_INVALID, "Gaussian PL accepted");
    CHECK(dn_rbm_gibbs(&m, 1, 0, 0, v, ph, NULL, NULL, 0, 0, 0, 0) == DN_ERR_INVALID, "k = 0 accepted");
    static float big[32 * 40], bb[40], bc[32];
    dn_rbm mb = {40, 32, DN_RBM_BERNOULLI, big, bb, bc};
    double lz;
    CHECK(dn_rbm_log_z_exact(&mb, 0, &lz) == DN_ERR_INVALID && strstr(dn_last_error(), "dn_rbm_log_z_ais"),
          "2^32 states accepted: %s", dn_last_error());
    dn_rbm_train_config cfg;
    dn_rbm_train_default(&cfg);
    cfg.method = DN_RBM_PCD;
    dn_rbm_train_state st = {NULL, 0, NULL, NULL, NULL, 0};
    m.visible = DN_RBM_BERNOULLI;
    CHECK(dn_rbm_train_epoch(&m, &cfg, &st, v, 1, 0, NULL) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "chains"),
          "PCD without chains: %s", dn_last_error());
}

int main(void)
{
    test_conditionals();
    test_log_z();
    test_training();
    test_threads();
    test_errors();
    if (failures) printf("%d failure(s)\n", failures);
    return failures != 0;
}
