namespace SegmentAnything.Checkpoints;

/// <summary>
/// Builds state dicts of the official SAM ViT architectures with random weights, so benchmarks and
/// tests can run a full-size ViT-B/L/H without downloading anything. Outputs are meaningless; shapes
/// and names are exactly the official ones.
/// </summary>
public static class SyntheticCheckpoints
{
    public sealed record VitSpec(int EmbedDim, int Depth, int Heads, int[] GlobalAttnIndexes);

    public static readonly IReadOnlyDictionary<string, VitSpec> Architectures = new Dictionary<string, VitSpec>
    {
        ["vit_b"] = new(768, 12, 12, [2, 5, 8, 11]),
        ["vit_l"] = new(1024, 24, 16, [5, 11, 17, 23]),
        ["vit_h"] = new(1280, 32, 16, [7, 15, 23, 31]),
    };

    public static StateDict Create(string architecture, int seed = 0)
    {
        var b = Describe(architecture);
        var rng = new Random(seed);
        var tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (var e in b.Entries)
        {
            var data = new float[SegmentAnything.Tensors.Tensor.CheckedLength(e.Shape)];
            Fill(e.Kind, rng, data);
            tensors[e.Name] = CheckpointTensor.FromFloats(data, e.Shape);
        }
        return new StateDict(tensors, $"synthetic:{architecture}");
    }

    /// <summary>
    /// Writes the same float32 weights as <see cref="Create"/> to <paramref name="path"/>: safetensors when it ends
    /// in <c>.safetensors</c>, else a <c>torch.save</c>-style zip (<c>.pth</c>). One tensor is generated at a time,
    /// so even ViT-H (2.5 GB) is written with the memory of its largest tensor.
    /// </summary>
    public static void Save(string architecture, string path, int seed = 0)
    {
        var b = Describe(architecture);
        var rng = new Random(seed);
        var entries = b.Entries.Select(e => (e.Name, DType.Float32, e.Shape)).ToList();
        float[] buffer = new float[b.Entries.Max(e => SegmentAnything.Tensors.Tensor.CheckedLength(e.Shape))];
        void WriteData(int i, Stream s)
        {
            var span = buffer.AsSpan(0, SegmentAnything.Tensors.Tensor.CheckedLength(b.Entries[i].Shape));
            Fill(b.Entries[i].Kind, rng, span);
            s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(span));
        }
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            SafeTensors.WriteStreamed(path, entries, WriteData, new Dictionary<string, string> { ["format"] = "pt" });
        else
            TorchZipWriter.Write(path, entries, WriteData);
    }

    private static void Fill(EntryKind kind, Random rng, Span<float> data)
    {
        switch (kind)
        {
            case EntryKind.Random: for (int i = 0; i < data.Length; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * 0.05); break;
            case EntryKind.Ones: data.Fill(1f); break;
            default: data.Clear(); break;
        }
    }

    private static Builder Describe(string architecture)
    {
        if (!Architectures.TryGetValue(architecture, out var spec))
            throw new ArgumentException($"No synthetic architecture '{architecture}'; choose one of {string.Join(", ", Architectures.Keys)}.");
        var b = new Builder();
        const int img = 1024, patch = 16, grid = img / patch, window = 14, prompt = 256;
        int e = spec.EmbedDim, hd = e / spec.Heads;
        b.Weight("image_encoder.pos_embed", 1, grid, grid, e);
        b.Weight("image_encoder.patch_embed.proj.weight", e, 3, patch, patch);
        b.Bias("image_encoder.patch_embed.proj.bias", e);
        for (int i = 0; i < spec.Depth; i++)
        {
            string p = $"image_encoder.blocks.{i}.";
            int span = 2 * (spec.GlobalAttnIndexes.Contains(i) ? grid : window) - 1;
            b.Norm(p + "norm1", e);
            b.Linear(p + "attn.qkv", e, 3 * e);
            b.Linear(p + "attn.proj", e, e);
            b.Weight(p + "attn.rel_pos_h", span, hd);
            b.Weight(p + "attn.rel_pos_w", span, hd);
            b.Norm(p + "norm2", e);
            b.Linear(p + "mlp.lin1", e, 4 * e);
            b.Linear(p + "mlp.lin2", 4 * e, e);
        }
        b.Weight("image_encoder.neck.0.weight", prompt, e, 1, 1);
        b.Norm("image_encoder.neck.1", prompt);
        b.Weight("image_encoder.neck.2.weight", prompt, prompt, 3, 3);
        b.Norm("image_encoder.neck.3", prompt);

        b.Weight("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, prompt / 2);
        for (int i = 0; i < 4; i++) b.Weight($"prompt_encoder.point_embeddings.{i}.weight", 1, prompt);
        b.Weight("prompt_encoder.not_a_point_embed.weight", 1, prompt);
        b.Weight("prompt_encoder.no_mask_embed.weight", 1, prompt);
        b.Weight("prompt_encoder.mask_downscaling.0.weight", 4, 1, 2, 2);
        b.Bias("prompt_encoder.mask_downscaling.0.bias", 4);
        b.Norm("prompt_encoder.mask_downscaling.1", 4);
        b.Weight("prompt_encoder.mask_downscaling.3.weight", 16, 4, 2, 2);
        b.Bias("prompt_encoder.mask_downscaling.3.bias", 16);
        b.Norm("prompt_encoder.mask_downscaling.4", 16);
        b.Weight("prompt_encoder.mask_downscaling.6.weight", prompt, 16, 1, 1);
        b.Bias("prompt_encoder.mask_downscaling.6.bias", prompt);

        const string t = "mask_decoder.transformer.";
        for (int i = 0; i < 2; i++)
        {
            string p = $"{t}layers.{i}.";
            Attention(b, p + "self_attn", prompt, prompt);
            Attention(b, p + "cross_attn_token_to_image", prompt, prompt / 2);
            Attention(b, p + "cross_attn_image_to_token", prompt, prompt / 2);
            for (int n = 1; n <= 4; n++) b.Norm($"{p}norm{n}", prompt);
            b.Linear(p + "mlp.lin1", prompt, 2048);
            b.Linear(p + "mlp.lin2", 2048, prompt);
        }
        Attention(b, t + "final_attn_token_to_image", prompt, prompt / 2);
        b.Norm(t + "norm_final_attn", prompt);
        b.Weight("mask_decoder.iou_token.weight", 1, prompt);
        b.Weight("mask_decoder.mask_tokens.weight", 4, prompt);
        b.Weight("mask_decoder.output_upscaling.0.weight", prompt, prompt / 4, 2, 2);
        b.Bias("mask_decoder.output_upscaling.0.bias", prompt / 4);
        b.Norm("mask_decoder.output_upscaling.1", prompt / 4);
        b.Weight("mask_decoder.output_upscaling.3.weight", prompt / 4, prompt / 8, 2, 2);
        b.Bias("mask_decoder.output_upscaling.3.bias", prompt / 8);
        for (int m = 0; m < 4; m++)
        {
            string p = $"mask_decoder.output_hypernetworks_mlps.{m}.layers.";
            b.Linear(p + "0", prompt, prompt);
            b.Linear(p + "1", prompt, prompt);
            b.Linear(p + "2", prompt, prompt / 8);
        }
        b.Linear("mask_decoder.iou_prediction_head.layers.0", prompt, 256);
        b.Linear("mask_decoder.iou_prediction_head.layers.1", 256, 256);
        b.Linear("mask_decoder.iou_prediction_head.layers.2", 256, 4);
        return b;
    }

    private static void Attention(Builder b, string p, int dim, int inner)
    {
        b.Linear(p + ".q_proj", dim, inner);
        b.Linear(p + ".k_proj", dim, inner);
        b.Linear(p + ".v_proj", dim, inner);
        b.Linear(p + ".out_proj", inner, dim);
    }

    private enum EntryKind { Random, Ones, Zeros }

    private sealed record Entry(string Name, int[] Shape, EntryKind Kind);

    /// <summary>Names, shapes and fill of every tensor in state-dict order; values are drawn in this order from one seeded generator.</summary>
    private sealed class Builder
    {
        public List<Entry> Entries { get; } = [];

        public void Weight(string name, params int[] shape) => Entries.Add(new(name, shape, EntryKind.Random));

        public void Bias(string name, int n) => Weight(name, n);

        public void Linear(string name, int inFeatures, int outFeatures)
        {
            Weight(name + ".weight", outFeatures, inFeatures);
            Bias(name + ".bias", outFeatures);
        }

        public void Norm(string name, int n)
        {
            Entries.Add(new(name + ".weight", [n], EntryKind.Ones));
            Entries.Add(new(name + ".bias", [n], EntryKind.Zeros));
        }
    }
}
