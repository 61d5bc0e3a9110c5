using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Kernels;

namespace SegmentAnything.Cli.Commands;

/// <summary>
/// <c>sam bench</c>: times the image encoder and a one-point decode (with upsampling to the image
/// size), reporting min and median of several runs and the GFLOP/s of the matrix work.
/// </summary>
public static class BenchCommand
{
    private const int BatchPrompts = 64;

    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var image = new Option<string?>("--image", "-i") { Description = "Image to encode (default: a synthetic 1800x1200 image, the size of the notebooks' truck.jpg)." };
        var runs = new Option<int>("--runs", "-n") { Description = "Timed encoder runs (after a warm-up of up to 30 calls within 2 s).", DefaultValueFactory = _ => 3 };
        var decodeRuns = new Option<int>("--decode-runs") { Description = "Timed decoder runs (after warm-up).", DefaultValueFactory = _ => 20 };
        var arch = new Option<string?>("--arch") { Description = $"Benchmark a synthetic model with random weights instead of a checkpoint: {string.Join(", ", SyntheticCheckpoints.Architectures.Keys)}." };
        var peak = new Option<bool>("--peak") { Description = "Also measure the machine's FMA peak (independent FMA chains on every core) and give every figure as a fraction of it." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (times in ms) instead of a table." };
        var amg = new Option<bool>("--amg") { Description = "Time automatic mask generation instead: a --points-per-side grid with the IoU and stability filters off and box NMS at 1.0, so every candidate goes through the whole pipeline." };
        var kernels = new Option<bool>("--kernels") { Description = "Time the matrix products and attention calls at the models' shapes (ViT-B, EfficientSAM, TinyViT, decoder) instead: GFLOP/s per shape." };
        var kernelFilter = new Option<string?>("--kernel-filter") { Description = "With --kernels: only the shapes whose name contains this text." };
        var threadCount = new Option<int?>("--threads") { Description = "Threads the kernels may use (default: all processors)." };
        var amgSide = new Option<int>("--points-per-side") { Description = "Grid side for --amg.", DefaultValueFactory = _ => 32 };
        var amgFilters = new Option<bool>("--official-filters") { Description = "With --amg: keep the official default IoU / stability thresholds and NMS instead of turning them off." };
        var save = new Option<string?>("--save") { Description = "With --arch: write the synthetic checkpoint to this file instead of benchmarking (.safetensors, else a torch.save-style .pth zip)." };
        var cmd = new Command("bench", "Benchmark the encoder and decoder on this machine.") { checkpoint, model, arch, image, runs, decodeRuns, peak, json, amg, amgSide, amgFilters, save, kernels, kernelFilter, threadCount };
        cmd.SetAction(r =>
        {
            if (r.GetValue(threadCount) is int tc)
                KernelParallel.MaxThreads = tc >= 1 ? tc : throw new CliException("--threads must be at least 1");
            if (r.GetValue(kernels)) return BenchKernels(r.GetValue(runs), r.GetValue(peak), r.GetValue(json), r.GetValue(kernelFilter));
            string? synthetic = r.GetValue(arch);
            if (synthetic is null) CommonOptions.CheckModelChoice(r, checkpoint, model);
            else if (r.GetValue(checkpoint) is not null || r.GetValue(model) is not null) throw new CliException("give one of --checkpoint, --model or --arch");
            if (r.GetValue(save) is string savePath)
            {
                if (synthetic is null) throw new CliException("--save needs --arch");
                try { SyntheticCheckpoints.Save(synthetic, savePath); }
                catch (ArgumentException e) { throw new CliException(e.Message); }
                Console.WriteLine($"wrote {savePath}: synthetic {synthetic}, {new FileInfo(savePath).Length:N0} bytes");
                return 0;
            }
            int n = r.GetValue(runs), nd = r.GetValue(decodeRuns);
            if (n < 1 || nd < 1) throw new CliException("--runs and --decode-runs must be at least 1");
            var img = r.GetValue(image) is string p ? ImageIO.Load(CommonOptions.ExistingFile(p, "image")) : Synthetic(1800, 1200);
            var sam = synthetic is null ? CommonOptions.LoadModel(r, checkpoint, model) : SamModel.FromStateDict(SyntheticCheckpoints.Create(synthetic));
            if (r.GetValue(amg)) return BenchAmg(sam, img, r.GetValue(amgSide), r.GetValue(amgFilters), r.GetValue(json));
            var predictor = new SamPredictor(sam);

            var enc = Time(n, () => predictor.SetImage(img));
            var prompt = Prompt.FromPoint(img.Width / 2f, img.Height / 2f);
            // The decoder row includes thresholding every mask at the original size, into one reused buffer.
            var maskBuffer = new bool[img.Width * img.Height];
            var dec = Time(nd, () =>
            {
                var result = predictor.Predict(prompt, multimask: true);
                for (int i = 0; i < result.Count; i++) result.MaskInto(i, maskBuffer);
            });
            // A batch of 64 single-point prompts on an 8x8 grid, as the automatic mask generator decodes them (low resolution, three masks each).
            var grid = new double[2 * BatchPrompts];
            for (int i = 0; i < BatchPrompts; i++)
            {
                grid[2 * i] = (i % 8 + 0.5) * img.Width / 8;
                grid[2 * i + 1] = (i / 8 + 0.5) * img.Height / 8;
            }
            var batch = Time(Math.Clamp(nd / 4, 2, 5), () => predictor.PredictPoints(grid, multimask: true));
            double? peakGflops = r.GetValue(peak) ? Math.Round(PeakFlops.Measure(Environment.ProcessorCount), 1) : null;
            var report = new
            {
                peak_gflops = peakGflops,
                architecture = sam.Architecture,
                image = new[] { img.Width, img.Height },
                threads = Environment.ProcessorCount,
                isa = KernelInfo.Describe(),
                encoder = Summary(enc),
                decoder = Summary(dec),
                decoder_batch_64 = Summary(batch),
            };
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report));
            else
            {
                Console.WriteLine($"{sam.Architecture} on {img.Width}x{img.Height}, {Environment.ProcessorCount} threads, {KernelInfo.Describe()}");
                if (peakGflops is double pk) Console.WriteLine($"measured FMA peak: {pk:F1} GFLOP/s");
                Console.WriteLine($"{"stage",-16} {"min ms",10} {"median ms",10} {"GFLOP",10} {"GFLOP/s",10}{(peakGflops is null ? "" : $" {"of peak",8}")} {"alloc MB",9} {"gen2 GCs",8}");
                Row("encoder", report.encoder, peakGflops);
                Row("decoder", report.decoder, peakGflops);
                Row("decoder batch 64", report.decoder_batch_64, peakGflops);
                Console.WriteLine($"{"",-16} {report.decoder_batch_64.min_ms / BatchPrompts,10:F2} ms per prompt (min), {report.decoder_batch_64.gflop / BatchPrompts,6:F3} GFLOP per prompt");
            }
            return 0;
        });
        return cmd;
    }

    private static int BenchAmg(SamModel sam, RgbImage img, int side, bool officialFilters, bool json)
    {
        var options = officialFilters
            ? new AutomaticMasks.AutomaticMaskGeneratorOptions { PointsPerSide = side }
            : new AutomaticMasks.AutomaticMaskGeneratorOptions { PointsPerSide = side, PredIouThresh = 0, StabilityScoreThresh = 0, BoxNmsThresh = 1.0f };
        var generator = new AutomaticMasks.AutomaticMaskGenerator(sam, options);
        long f0 = FlopCounter.Total;
        var sw = Stopwatch.StartNew();
        var records = generator.Generate(img);
        double total = sw.Elapsed.TotalMilliseconds;
        var t = generator.LastTimings!;
        var report = new
        {
            architecture = sam.Architecture,
            image = new[] { img.Width, img.Height },
            threads = Environment.ProcessorCount,
            isa = KernelInfo.Describe(),
            points_per_side = side,
            official_filters = officialFilters,
            prompts = t.Prompts,
            candidates = t.Candidates,
            masks = records.Count,
            encoder_ms = t.EncoderMs,
            decoder_ms = t.DecoderMs,
            postprocess_ms = t.PostprocessMs,
            total_ms = Math.Round(total, 1),
            gflop = Math.Round((FlopCounter.Total - f0) / 1e9, 1),
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(report));
        else
        {
            Console.WriteLine($"{sam.Architecture} automatic masks on {img.Width}x{img.Height}, {side}x{side} grid, {Environment.ProcessorCount} threads, {KernelInfo.Describe()}");
            Console.WriteLine($"{t.Prompts} prompts, {t.Candidates} candidates, {records.Count} masks, {report.gflop} GFLOP");
            Console.WriteLine($"{"encoder",-16} {t.EncoderMs,10:F0} ms");
            Console.WriteLine($"{"decoding",-16} {t.DecoderMs,10:F0} ms ({t.DecoderMs / Math.Max(1, t.Prompts):F1} ms per prompt)");
            Console.WriteLine($"{"post-processing",-16} {t.PostprocessMs,10:F0} ms");
            Console.WriteLine($"{"total",-16} {total,10:F0} ms");
        }
        return 0;
    }

    private static int BenchKernels(int runs, bool measurePeak, bool json, string? filter)
    {
        if (runs < 1) throw new CliException("--runs must be at least 1");
        double? peak = measurePeak ? Math.Round(PeakFlops.Measure(Environment.ProcessorCount), 1) : null;
        var rows = new List<KernelTiming>();
        if (!json)
        {
            Console.WriteLine($"kernels, {KernelParallel.MaxThreads} threads, {KernelInfo.Describe()}");
            if (peak is double pk) Console.WriteLine($"measured FMA peak: {pk:F1} GFLOP/s");
            Console.WriteLine($"{"shape",-44} {"GFLOP",8} {"min ms",9} {"GFLOP/s",9}{(peak is null ? "" : $" {"of peak",8}")} {"per CPU-s",10}");
        }
        foreach (var t in KernelBenchmark.Run(runs, filter))
        {
            rows.Add(t);
            if (!json) Console.WriteLine($"{t.Name,-44} {t.Gflop,8:F2} {t.MinMs,9:F2} {t.GflopsPerSecond,9:F1}{(peak is double p ? $" {t.GflopsPerSecond / p,8:P0}" : "")} {t.CpuGflopsPerCore,10:F1}");
        }
        if (json)
        {
            var report = new Dictionary<string, object?>
            {
                ["peak_gflops"] = peak,
                ["threads"] = KernelParallel.MaxThreads,
                ["isa"] = KernelInfo.Describe(),
                ["kernels"] = rows.ToDictionary(t => t.Name, t => (object)new
                {
                    gflop = t.Gflop, min_ms = t.MinMs, gflops_per_s = t.GflopsPerSecond, cpu_gflops_per_core = t.CpuGflopsPerCore,
                    of_peak = peak is double p ? Math.Round(t.GflopsPerSecond / p, 3) : (double?)null,
                }),
            };
            Console.WriteLine(JsonSerializer.Serialize(report));
        }
        return 0;
    }

    /// <param name="cpu_min_ms">Least process CPU time of a run (all threads): on a shared machine, GFLOP per CPU-second
    /// (<paramref name="gflops_per_cpu_s"/>) estimates the per-core rate an idle machine would give.</param>
    private sealed record Stats(double min_ms, double median_ms, double gflop, double gflops_per_s, int runs, double cpu_min_ms, double gflops_per_cpu_s, double alloc_mb, int gen2_gcs);

    private static void Row(string name, Stats s, double? peak) =>
        Console.WriteLine($"{name,-16} {s.min_ms,10:F1} {s.median_ms,10:F1} {s.gflop,10:F2} {s.gflops_per_s,10:F1}{(peak is double p ? $" {s.gflops_per_s / p,8:P0}" : "")} {s.alloc_mb,9:F1} {s.gen2_gcs,8}");

    private static Stats Summary((List<double> Times, long Flops, double CpuMs, long AllocBytes, int Gen2) run) => Summary(run.Times, run.Flops, run.CpuMs, run.AllocBytes, run.Gen2);

    private static Stats Summary(List<double> times, long flops, double cpuMs, long allocBytes, int gen2)
    {
        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        double gflop = flops / 1e9;
        return new Stats(Math.Round(times[0], 2), Math.Round(median, 2), Math.Round(gflop, 3), Math.Round(gflop / (times[0] / 1000), 1), times.Count,
            Math.Round(cpuMs, 1), Math.Round(gflop / (Math.Max(cpuMs, 1e-3) / 1000), 1), Math.Round(allocBytes / 1048576.0, 2), gen2);
    }

    /// <summary>Calls before timing: the runtime's tiered JIT promotes a method to optimised code after ~30 calls.</summary>
    private const int WarmupCalls = 30;
    private static readonly TimeSpan WarmupBudget = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Warm-up, then <paramref name="n"/> timed runs; returns times (ms), FLOPs per run, and AllocBytes, the fewest
    /// managed bytes one call allocated on all threads (outputs included). The warm-up repeats the call up to
    /// <see cref="WarmupCalls"/> times within <see cref="WarmupBudget"/> (at least once), so fast calls such as a decode
    /// are timed in their optimised code rather than in the JIT's first tier.
    /// </summary>
    private static (List<double> Times, long Flops, double CpuMs, long AllocBytes, int Gen2) Time(int n, Action action)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < WarmupCalls && (i == 0 || warm.Elapsed < WarmupBudget); i++) action();
        long alloc = long.MaxValue;
        var times = new List<double>();
        long flops = 0;
        double cpu = double.MaxValue;
        using var process = Process.GetCurrentProcess();
        int gen2 = GC.CollectionCount(2);
        for (int i = 0; i < n; i++)
        {
            long f0 = FlopCounter.Total;
            process.Refresh();
            var c0 = process.TotalProcessorTime;
            long a0 = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
            alloc = Math.Min(alloc, GC.GetTotalAllocatedBytes(precise: true) - a0);
            process.Refresh();
            cpu = Math.Min(cpu, (process.TotalProcessorTime - c0).TotalMilliseconds);
            flops = FlopCounter.Total - f0;
        }
        return (times, flops, cpu, alloc, GC.CollectionCount(2) - gen2);
    }

    private static RgbImage Synthetic(int w, int h)
    {
        var img = new RgbImage(w, h);
        for (int y = 0; y < h; y++)
        {
            var row = img.Row(y);
            for (int x = 0; x < w; x++)
            {
                row[3 * x] = (byte)(x * 255 / w);
                row[3 * x + 1] = (byte)(y * 255 / h);
                row[3 * x + 2] = (byte)((x ^ y) & 255);
            }
        }
        return img;
    }
}
