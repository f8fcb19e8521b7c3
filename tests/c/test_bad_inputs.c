/* Tests of the core's answers to bad input and of parameter sharing:
 *   - a forward whose memory plan fails leaves no run behind: backward,
 *     dn_graph_output and dn_graph_input_grad return DN_ERR_STATE instead of
 *     reading the freed plan;
 *   - an input shape whose element count overflows 64 bits is refused, and a
 *     node whose output would overflow is refused at compile;
 *   - batch and layer normalisation refuse eps = 0 (a constant feature would
 *     be divided by 0);
 *   - dn_graph_share_params: one dense layer applied to two inputs of the same
 *     width has one weight and one bias, and their gradients are the sums over
 *     both uses (hand-worked below); inputs of different widths are refused at
 *     compile with a message naming the shared weight.
 * Exit status 0 when every check passes; each failure prints what failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph_impl.h"

#include "check.h"

enum { N = 4, D = 3, U = 2 };

static void test_failed_forward_leaves_no_run(void)
{
    dn_graph_t *g;
    dn_graph_new(&g);
    dn_shape s = {1, {1}};
    int x, y;
    dn_graph_add_input(g, &s, &x);
    dn_attrs a;
    dn_attrs_default(&a);
    a.units = 1 << 20;
    dn_graph_add_node(g, DN_OP_LINEAR, &x, 1, &a, &y);
    CHECK(dn_graph_compile(g, 1) == DN_OK, "compile: %s", dn_last_error());
    float in[2] = {1, 2};
    const float *ins[1] = {in};
    CHECK(dn_graph_forward(g, ins, 2, DN_RUN_GRAD, 1) == DN_OK, "forward: %s", dn_last_error());
    /* 2^40 samples of 2^20 outputs: the plan cannot be made (nothing is read from ins) */
    CHECK(dn_graph_forward(g, ins, (int64_t)1 << 40, DN_RUN_GRAD, 1) == DN_ERR_NOMEM,
          "a forward too large to plan was not refused: %s", dn_last_error());
    CHECK(dn_graph_backward(g, NULL, 1) == DN_ERR_STATE,
          "backward after a failed forward was not refused: %s", dn_last_error());
    const float *data;
    int64_t numel;
    CHECK(dn_graph_output(g, 0, &data, &numel) == DN_ERR_STATE,
          "an output after a failed forward was not refused: %s", dn_last_error());
    CHECK(dn_graph_input_grad(g, 0, &data, &numel) == DN_ERR_STATE,
          "an input gradient after a failed forward was not refused: %s", dn_last_error());
    dn_graph_free(g);
}

static void test_overflowing_shapes(void)
{
    dn_graph_t *g;
    dn_graph_new(&g);
    dn_shape huge = {2, {(int64_t)1 << 40, (int64_t)1 << 40}};
    int x;
    CHECK(dn_graph_add_input(g, &huge, &x) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "64-bit"),
          "an input of 2^80 elements: %s", dn_last_error());
    dn_shape img = {3, {1, 4, 4}};
    CHECK(dn_graph_add_input(g, &img, &x) == DN_OK, "input: %s", dn_last_error());
    dn_attrs a;
    dn_attrs_default(&a);
    a.factor[0] = a.factor[1] = (int64_t)1 << 31; /* (1, 2^33, 2^33): 2^66 elements */
    int up;
    dn_graph_add_node(g, DN_OP_UPSAMPLE2D, &x, 1, &a, &up);
    CHECK(dn_graph_compile(g, 1) == DN_ERR_INVALID && strstr(dn_last_error(), "64-bit"),
          "an output of 2^66 elements per sample: %s", dn_last_error());
    dn_graph_free(g);
}

static void test_norm_eps_zero(dn_op op)
{
    dn_graph_t *g;
    dn_graph_new(&g);
    dn_shape s = {1, {D}};
    int x, y;
    dn_graph_add_input(g, &s, &x);
    dn_attrs a;
    dn_attrs_default(&a);
    a.axis = 1;
    a.eps = 0.0f;
    dn_graph_add_node(g, op, &x, 1, &a, &y);
    CHECK(dn_graph_compile(g, 1) == DN_ERR_INVALID && strstr(dn_last_error(), "eps is 0"),
          "%s with eps 0: %s", dn_op_name(op), dn_last_error());
    dn_graph_free(g);
}

/* y = (x1 W + b) + (x2 W + b), one W (D, U) and one b (U). With the output
 * gradient G all ones: dW[i][j] = sum_r x1[r][i] + x2[r][i], db[j] = 2 N. */
static void test_shared_dense(void)
{
    dn_graph_t *g;
    dn_graph_new(&g);
    dn_shape s = {1, {D}};
    int x1, x2, l1, l2, sum;
    dn_graph_add_input(g, &s, &x1);
    dn_graph_add_input(g, &s, &x2);
    dn_attrs a;
    dn_attrs_default(&a);
    a.units = U;
    a.b_init = DN_INIT_NORMAL;
    a.b_scale = 1.0f;
    dn_graph_add_node(g, DN_OP_LINEAR, &x1, 1, &a, &l1);
    dn_graph_add_node(g, DN_OP_LINEAR, &x2, 1, &a, &l2);
    CHECK(dn_graph_share_params(g, l2, l1) == DN_OK, "share: %s", dn_last_error());
    CHECK(dn_graph_share_params(g, l1, l2) == DN_ERR_INVALID,
          "a node sharing the parameters of a node that shares its own was accepted");
    int ins[2] = {l1, l2};
    dn_graph_add_node(g, DN_OP_ADD, ins, 2, NULL, &sum);
    CHECK(dn_graph_share_params(g, sum, l1) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "same op"),
          "sharing between different ops: %s", dn_last_error());
    CHECK(dn_graph_compile(g, 3) == DN_OK, "compile: %s", dn_last_error());
    CHECK(dn_graph_num_params(g) == 2, "%d parameters, not one weight and one bias",
          dn_graph_num_params(g));
    dn_param_info w, b;
    dn_graph_param(g, 0, &w);
    dn_graph_param(g, 1, &b);
    float X1[N * D], X2[N * D], G[N * U];
    for (int i = 0; i < N * D; i++) X1[i] = frand(-1, 1), X2[i] = frand(-1, 1);
    for (int i = 0; i < N * U; i++) G[i] = 1.0f;
    const float *xs[2] = {X1, X2}, *gs[1] = {G};
    CHECK(dn_graph_forward(g, xs, N, DN_RUN_GRAD, 1) == DN_OK, "forward: %s", dn_last_error());
    const float *out;
    int64_t numel;
    dn_graph_output(g, 0, &out, &numel);
    for (int r = 0; r < N; r++)
        for (int j = 0; j < U; j++) {
            double want = 2.0 * b.value[j];
            for (int i = 0; i < D; i++)
                want += (double)(X1[r * D + i] + X2[r * D + i]) * w.value[i * U + j];
            CHECK(fabs(out[r * U + j] - want) < 1e-5, "output [%d][%d] %g, want %g", r, j,
                  (double)out[r * U + j], want);
        }
    CHECK(dn_graph_backward(g, gs, 1) == DN_OK, "backward: %s", dn_last_error());
    for (int i = 0; i < D; i++)
        for (int j = 0; j < U; j++) {
            double want = 0;
            for (int r = 0; r < N; r++) want += X1[r * D + i] + X2[r * D + i];
            CHECK(fabs(w.grad[i * U + j] - want) < 1e-5, "dW[%d][%d] %g, want %g", i, j,
                  (double)w.grad[i * U + j], want);
        }
    for (int j = 0; j < U; j++)
        CHECK(b.grad[j] == 2.0f * N, "db[%d] %g, want %d", j, (double)b.grad[j], 2 * N);
    dn_graph_free(g);

    /* the same layer on inputs of widths D and D + 1 */
    dn_graph_new(&g);
    dn_shape wider = {1, {D + 1}};
    dn_graph_add_input(g, &s, &x1);
    dn_graph_add_input(g, &wider, &x2);
    dn_graph_add_node(g, DN_OP_LINEAR, &x1, 1, &a, &l1);
    dn_graph_add_node(g, DN_OP_LINEAR, &x2, 1, &a, &l2);
    dn_graph_share_params(g, l2, l1);
    CHECK(dn_graph_compile(g, 3) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "weight has shape (3, 2)"),
          "a shared dense layer on widths 3 and 4: %s", dn_last_error());
    dn_graph_free(g);
}

int main(void)
{
    test_failed_forward_leaves_no_run();
    test_overflowing_shapes();
    test_norm_eps_zero(DN_OP_BATCHNORM);
    test_norm_eps_zero(DN_OP_LAYERNORM);
    test_shared_dense();
    fflush(stdout);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("bad inputs: all checks passed\n");
    return 0;
}
