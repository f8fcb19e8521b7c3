/* INPUT: a batched data input. The executor points its value at the data
 * (or gathers a batch into it); it has no kernels of its own. */
#include "internal.h"

static dn_status input_infer(dn_node *node)
{
    node->shape = node->attrs.shape;
    node->batched = 1;
    return DN_OK;
}

static void input_nothing(const dn_ctx *c) { (void)c; }

const dn_op_def dn_opdef_input = {
    DN_OP_INPUT, "input", 0, 0, 0, input_infer,
    input_nothing, input_nothing, input_nothing, input_nothing};
