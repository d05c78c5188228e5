//! Products and elementwise maths on the training path: the one shape-checked matrix multiply
//! (output tiles fixed by the shapes) and a vectorisable f32 sigmoid.

pub mod fastmath;
pub mod matmul;
