package spec

import (
	"encoding/json"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"family":"dit","input_size":8,"patch_size":2,"hidden_size":64,"depth":2,"num_heads":4,"num_classes":10}`,
		`{"family":"stdit","input_size":[2,8,8],"patch_size":[1,2,2],"hidden_size":64,"depth":2,"num_heads":4,"caption_channels":32,"model_max_length":8}`,
		`{"family":"mmdit","hidden_size":128,"num_heads":1,"depth":1,"depth_single_blocks":1}`,
		`{"family":"stdit3-v4","kernel_size":[8,8,-1],"hidden_size":72,"num_heads":1,"depth":1}`,
		`{"family":"pixart-diffusers","num_layers":1,"caption_channels":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		es, err := s.Keys()
		if err != nil {
			t.Fatalf("parsed spec fails Keys: %v", err)
		}
		if len(es) > 2_000_000 {
			return
		}
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(js)
		if err != nil || !back.Equal(s) {
			t.Fatalf("round trip of %s: %v", js, err)
		}
		_ = Detect(entriesToInfos(es))
	})
}
