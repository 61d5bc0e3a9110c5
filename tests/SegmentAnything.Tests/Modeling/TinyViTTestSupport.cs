using SegmentAnything.Checkpoints;

namespace SegmentAnything.Tests.Modeling;

/// <summary>Random TinyViT state dicts, named as the official modules name them, for the TinyViT tests.</summary>
internal static class TinyViTTestSupport
{
    public static float[] Random(Random rng, int count, float scale = 1f, float offset = 0f)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = offset + scale * (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    public static void AddConvBN(Dictionary<string, CheckpointTensor> d, Random rng, string name, int cin, int cout, int k, int groups)
    {
        d[name + ".c.weight"] = CheckpointTensor.FromFloats(Random(rng, cout * cin / groups * k * k, 0.5f), cout, cin / groups, k, k);
        d[name + ".bn.weight"] = CheckpointTensor.FromFloats(Random(rng, cout, 0.5f, 1f), cout);
        d[name + ".bn.bias"] = CheckpointTensor.FromFloats(Random(rng, cout, 0.2f), cout);
        d[name + ".bn.running_mean"] = CheckpointTensor.FromFloats(Random(rng, cout, 0.2f), cout);
        d[name + ".bn.running_var"] = CheckpointTensor.FromFloats(Random(rng, cout, 0.4f, 1f), cout);
        d[name + ".bn.num_batches_tracked"] = CheckpointTensor.FromInt64([7]);
    }

    public static void AddLinear(Dictionary<string, CheckpointTensor> d, Random rng, string name, int cin, int cout)
    {
        d[name + ".weight"] = CheckpointTensor.FromFloats(Random(rng, cout * cin, 1f / MathF.Sqrt(cin)), cout, cin);
        d[name + ".bias"] = CheckpointTensor.FromFloats(Random(rng, cout, 0.1f), cout);
    }

    public static void AddNorm(Dictionary<string, CheckpointTensor> d, Random rng, string name, int dim)
    {
        d[name + ".weight"] = CheckpointTensor.FromFloats(Random(rng, dim, 0.3f, 1f), dim);
        d[name + ".bias"] = CheckpointTensor.FromFloats(Random(rng, dim, 0.3f), dim);
    }

    public static void AddAttention(Dictionary<string, CheckpointTensor> d, Random rng, string name, int dim, int heads, int window)
    {
        d[name + ".attention_biases"] = CheckpointTensor.FromFloats(Random(rng, heads * window * window), heads, window * window);
        AddNorm(d, rng, name + ".norm", dim);
        AddLinear(d, rng, name + ".qkv", dim, 3 * dim);
        AddLinear(d, rng, name + ".proj", dim, dim);
    }

    public static void AddBlock(Dictionary<string, CheckpointTensor> d, Random rng, string name, int dim, int heads, int window)
    {
        AddAttention(d, rng, name + ".attn", dim, heads, window);
        AddNorm(d, rng, name + ".mlp.norm", dim);
        AddLinear(d, rng, name + ".mlp.fc1", dim, 4 * dim);
        AddLinear(d, rng, name + ".mlp.fc2", 4 * dim, dim);
        AddConvBN(d, rng, name + ".local_conv", dim, dim, 3, dim);
    }

    /// <summary>A TinyViT state dict as the official module names it, with a classification head.</summary>
    public static Dictionary<string, CheckpointTensor> Model(int seed, int[] dims, int[] depths, int[] heads, int[] windows, int neck, string prefix = "image_encoder.")
    {
        var rng = new Random(seed);
        var d = new Dictionary<string, CheckpointTensor>();
        AddConvBN(d, rng, prefix + "patch_embed.seq.0", 3, dims[0] / 2, 3, 1);
        AddConvBN(d, rng, prefix + "patch_embed.seq.2", dims[0] / 2, dims[0], 3, 1);
        for (int i = 0; i < dims.Length; i++)
        {
            string layer = $"{prefix}layers.{i}";
            for (int b = 0; b < depths[i]; b++)
            {
                string block = $"{layer}.blocks.{b}";
                if (i == 0)
                {
                    AddConvBN(d, rng, block + ".conv1", dims[0], 4 * dims[0], 1, 1);
                    AddConvBN(d, rng, block + ".conv2", 4 * dims[0], 4 * dims[0], 3, 4 * dims[0]);
                    AddConvBN(d, rng, block + ".conv3", 4 * dims[0], dims[0], 1, 1);
                }
                else AddBlock(d, rng, block, dims[i], heads[i], windows[i]);
            }
            if (i < dims.Length - 1)
            {
                int o = dims[i + 1];
                AddConvBN(d, rng, layer + ".downsample.conv1", dims[i], o, 1, 1);
                AddConvBN(d, rng, layer + ".downsample.conv2", o, o, 3, o);
                AddConvBN(d, rng, layer + ".downsample.conv3", o, o, 1, 1);
            }
        }
        AddNorm(d, rng, prefix + "norm_head", dims[^1]);
        AddLinear(d, rng, prefix + "head", dims[^1], 10);
        d[prefix + "neck.0.weight"] = CheckpointTensor.FromFloats(Random(rng, neck * dims[^1], 0.3f), neck, dims[^1], 1, 1);
        AddNorm(d, rng, prefix + "neck.1", neck);
        d[prefix + "neck.2.weight"] = CheckpointTensor.FromFloats(Random(rng, neck * neck * 9, 0.1f), neck, neck, 3, 3);
        AddNorm(d, rng, prefix + "neck.3", neck);
        return d;
    }
}
