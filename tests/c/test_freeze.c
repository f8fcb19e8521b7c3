/* Tests of dn_graph_set_trainable (transfer learning, seed 000 section 6.5)
 * on x -> linear(8, relu) -> batchnorm -> linear(3) -> MSE loss:
 *   - frozen before compile: an epoch of Adam with L2 leaves every value of
 *     the frozen nodes bit-identical (batch norm's running statistics too:
 *     a frozen node runs as at inference) while the head changes, and the
 *     first linear node, below every trainable one, runs no backward;
 *   - frozen after compile, with the optimiser set: the same, and trained
 *     again the node changes;
 *   - a node id that does not exist is an error.
 * Exit status 0 when every check passes; each failure prints what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph_impl.h"

#include "check.h"

enum { N = 40, D = 5, K = 3 };

typedef struct net {
    dn_graph_t *g;
    int x, l1, bn, l2;
} net;

static net make_net(int freeze_before_compile)
{
    net m;
    dn_graph_new(&m.g);
    dn_shape sx = {1, {D}}, sy = {1, {K}};
    dn_graph_add_input(m.g, &sx, &m.x);
    int y;
    dn_graph_add_input(m.g, &sy, &y);
    dn_attrs a;
    dn_attrs_default(&a);
    a.units = 8;
    a.act = DN_ACT_RELU;
    dn_graph_add_node(m.g, DN_OP_LINEAR, &m.x, 1, &a, &m.l1);
    dn_attrs_default(&a);
    a.axis = 1;
    dn_graph_add_node(m.g, DN_OP_BATCHNORM, &m.l1, 1, &a, &m.bn);
    dn_attrs_default(&a);
    a.units = K;
    dn_graph_add_node(m.g, DN_OP_LINEAR, &m.bn, 1, &a, &m.l2);
    dn_attrs_default(&a);
    a.loss = DN_LOSS_MSE;
    int ins[2] = {m.l2, y}, loss;
    dn_graph_add_node(m.g, DN_OP_LOSS, ins, 2, &a, &loss);
    dn_graph_set_outputs(m.g, &m.l2, 1);
    if (freeze_before_compile) {
        CHECK(dn_graph_set_trainable(m.g, m.l1, 0) == DN_OK, "freeze: %s", dn_last_error());
        CHECK(dn_graph_set_trainable(m.g, m.bn, 0) == DN_OK, "freeze: %s", dn_last_error());
    }
    CHECK(dn_graph_compile(m.g, 7) == DN_OK, "compile: %s", dn_last_error());
    dn_optim_config c;
    dn_optim_default(&c, DN_OPTIM_ADAM);
    c.lr = 0.01f;
    c.l2 = 0.1f;
    CHECK(dn_graph_set_optimizer(m.g, &c) == DN_OK, "optimiser: %s", dn_last_error());
    return m;
}

/* Copies of the parameters of node v. */
static float *params_of(const dn_graph_t *g, int v, int64_t *n)
{
    float *out = malloc(4096 * sizeof *out);
    *n = 0;
    for (int k = 0; k < dn_graph_num_params(g); k++) {
        dn_param_info info;
        dn_graph_param(g, k, &info);
        if (info.node != v) continue;
        int64_t m = dn_shape_numel(&info.shape);
        memcpy(out + *n, info.value, (size_t)m * sizeof *out);
        *n += m;
    }
    return out;
}

static int same(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static void epoch(net *m, const float *X, const float *Y)
{
    const float *data[2] = {X, Y};
    double loss;
    CHECK(dn_graph_train_epoch(m->g, data, N, 8, 1, 2, &loss) == DN_OK, "epoch: %s",
          dn_last_error());
}

/* Trains an epoch; checks which nodes changed. */
static void check_epoch(net *m, const float *X, const float *Y, int frozen, const char *what)
{
    int64_t n1, nb, n2, k;
    float *l1 = params_of(m->g, m->l1, &n1), *bn = params_of(m->g, m->bn, &nb);
    float *l2 = params_of(m->g, m->l2, &n2);
    epoch(m, X, Y);
    float *l1b = params_of(m->g, m->l1, &k), *bnb = params_of(m->g, m->bn, &k);
    float *l2b = params_of(m->g, m->l2, &k);
    CHECK(same(l1, l1b, n1) == frozen, "%s: linear 1 %s", what,
          frozen ? "changed though frozen" : "did not train");
    CHECK(same(bn, bnb, nb) == frozen, "%s: batch norm (and its running statistics) %s",
          what, frozen ? "changed though frozen" : "did not train");
    CHECK(!same(l2, l2b, n2), "%s: the head did not train", what);
    if (frozen && m->g->plan.valid)
        CHECK(!m->g->plan.needs_grad[m->l1] && !m->g->plan.needs_grad[m->bn],
              "%s: frozen nodes below every trainable one still run backward", what);
    free(l1); free(bn); free(l2); free(l1b); free(bnb); free(l2b);
}

int main(void)
{
    float X[N * D], Y[N * K];
    for (int i = 0; i < N * D; i++) X[i] = frand(-1, 1);
    for (int i = 0; i < N * K; i++) Y[i] = frand(-1, 1);

    net m = make_net(1);
    check_epoch(&m, X, Y, 1, "frozen before compile");
    dn_param_info info;
    dn_graph_param(m.g, 0, &info);
    CHECK(!info.trainable && !info.grad, "a frozen parameter reports itself trainable");
    dn_graph_free(m.g);

    m = make_net(0);
    check_epoch(&m, X, Y, 0, "trainable");
    CHECK(dn_graph_set_trainable(m.g, m.l1, 0) == DN_OK && dn_graph_set_trainable(m.g, m.bn, 0) == DN_OK,
          "freeze after compile: %s", dn_last_error());
    check_epoch(&m, X, Y, 1, "frozen after compile");
    CHECK(dn_graph_set_trainable(m.g, m.l1, 1) == DN_OK && dn_graph_set_trainable(m.g, m.bn, 1) == DN_OK,
          "unfreeze: %s", dn_last_error());
    check_epoch(&m, X, Y, 0, "trained again");

    CHECK(dn_graph_set_trainable(m.g, 99, 0) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "does not exist"),
          "a missing node: %s", dn_last_error());
    dn_graph_free(m.g);
    fflush(stdout);
    if (failures) printf("%d failure(s)\n", failures);
    else printf("freeze: all checks passed\n");
    return failures != 0;
}
