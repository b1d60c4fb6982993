//! Every bound in cpra, named once, with its unit in the name.
//!
//! A hostile or broken target (endless headers, a trickle, a huge body, garbage) must cost
//! bounded memory and time; these constants are those bounds. Change them here, nowhere else.
