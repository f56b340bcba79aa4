package dit

import "fmt"

// captionRows packs each sample's valid caption tokens first, as
// PixArt's and Open-Sora's y.masked_select(mask) + y_lens do: rows[b·L+i]
// is the caption row of sample b's i-th valid token (−1 after them) and
// lens[b] their count. mask is [B', L] with B divisible by B' (repeated
// over the batch as upstream's mask.repeat); nil keeps every token.
func captionRows(mask []int, B, L int) (rows, lens []int, err error) {
	if mask != nil {
		if L <= 0 || len(mask)%L != 0 || len(mask) == 0 || B%(len(mask)/L) != 0 {
			return nil, nil, fmt.Errorf("mask has %d values, not [B', %d] with %d samples divisible by B'", len(mask), L, B)
		}
	}
	lens, rows = make([]int, B), make([]int, B*L)
	for i := range rows {
		rows[i] = -1
	}
	for b := 0; b < B; b++ {
		for l := 0; l < L; l++ {
			if mask == nil || mask[(b%(len(mask)/L))*L+l] != 0 {
				rows[b*L+lens[b]] = b*L + l
				lens[b]++
			}
		}
	}
	return rows, lens, nil
}

// captionBatch returns the captions [B, 1, L, Ct] of a batch: y as given,
// or (y nil) the null caption null [L, Ct] for every sample; L is y's
// token count.
func captionBatch(y, null []float32, B, Ct int, family string) ([]float32, int, error) {
	if y == nil {
		if null == nil {
			return nil, 0, fmt.Errorf("%s: no caption given and the checkpoint has no y_embedder.y_embedding (null caption)", family)
		}
		out := make([]float32, 0, B*len(null))
		for range B {
			out = append(out, null...)
		}
		return out, len(null) / Ct, nil
	}
	if B == 0 || len(y)%(B*Ct) != 0 || len(y) == 0 {
		return nil, 0, fmt.Errorf("%s: caption has %d values, not [%d, 1, L, %d]", family, len(y), B, Ct)
	}
	return y, len(y) / (B * Ct), nil
}
