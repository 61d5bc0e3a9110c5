using System.Diagnostics;
using SegmentAnything.Checkpoints;
using Xunit.Abstractions;
using static SegmentAnything.Tests.Checkpoints.TorchCheckpointWriter;

namespace SegmentAnything.Tests.Checkpoints;

/// <summary>
/// Load throughput on a ViT-H-shaped float32 checkpoint (embed 1280, MLP 5120; 32 blocks = 2.5 GB).
/// Opt-in: set SAM_CKPT_BENCH_BLOCKS to the number of blocks to write (it needs twice that size in RAM).
/// </summary>
public class TorchZipBenchmarkTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void LoadsVitHShapedCheckpoint()
    {
        string? env = Environment.GetEnvironmentVariable("SAM_CKPT_BENCH_BLOCKS");
        Skip.If(string.IsNullOrEmpty(env), "set SAM_CKPT_BENCH_BLOCKS to run the checkpoint loading benchmark");
        int blocks = int.Parse(env!);
        const int c = 1280, hidden = 5120;
        var w = new TorchCheckpointWriter();
        var entries = new List<(string, object?)>();
        int key = 0;
        var rng = new Random(1);
        void Add(string name, params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var bytes = new byte[n * 4];
            rng.NextBytes(bytes.AsSpan(0, Math.Min(bytes.Length, 4096)));
            string k = (key++).ToString();
            w.Storage(k, DType.Float32, bytes);
            entries.Add((name, Contiguous(k, shape)));
        }
        Add("image_encoder.pos_embed", 1, 64, 64, c);
        for (int b = 0; b < blocks; b++)
        {
            string p = $"image_encoder.blocks.{b}.";
            Add(p + "norm1.weight", c); Add(p + "norm1.bias", c);
            Add(p + "attn.rel_pos_h", 127, 80); Add(p + "attn.rel_pos_w", 127, 80);
            Add(p + "attn.qkv.weight", 3 * c, c); Add(p + "attn.qkv.bias", 3 * c);
            Add(p + "attn.proj.weight", c, c); Add(p + "attn.proj.bias", c);
            Add(p + "norm2.weight", c); Add(p + "norm2.bias", c);
            Add(p + "mlp.lin1.weight", hidden, c); Add(p + "mlp.lin1.bias", hidden);
            Add(p + "mlp.lin2.weight", c, hidden); Add(p + "mlp.lin2.bias", c);
        }
        using var f = new TempFile();
        w.Write(f.Path, Dict([.. entries]));
        w = null!;
        GC.Collect();
        long fileBytes = new FileInfo(f.Path).Length;
        var sw = Stopwatch.StartNew();
        var sd = CheckpointReader.Load(f.Path);
        double s = sw.Elapsed.TotalSeconds;
        Assert.Equal(entries.Count, sd.Tensors.Count);
        output.WriteLine($"{blocks} blocks, {entries.Count} tensors, {fileBytes / 1e6:F0} MB loaded in {s:F2} s ({fileBytes / 1e6 / s:F0} MB/s)");
    }
}
