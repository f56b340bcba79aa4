package sample

// Conditional returns the conditional samples — the first N of the
// state, channels first ([N, C, …]) — what previews decode and draw.
func (r *Result) Conditional() ([]float32, []int) {
	out, shape := r.ChannelsFirst()
	per := len(out) / shape[0]
	return out[:r.N*per], append([]int{r.N}, shape[1:]...)
}
