using System.CommandLine;
using SegmentAnything.Compression;

namespace SegmentAnything.Cli.Commands;

/// <summary><c>sam compress CHECKPOINT --to int8|fp16|bf16 -o OUT.safetensors</c>.</summary>
public static class CompressCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("checkpoint") { Description = "Float checkpoint to compress (.pt/.pth or .safetensors)." };
        var to = new Option<string>("--to") { Description = "int8 (per-output-channel weights), fp16, bf16, or fp32 (uncompressed baseline).", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Output file; must end in .safetensors.", Required = true };
        var keep = new Option<string[]>("--keep-float")
        {
            Description = "Tensor-name substrings kept in float32, comma separated or repeated; replaces the scheme's defaults " +
                          $"(int8: {string.Join(",", CompressionPolicy.DefaultInt8KeepFloat)}; fp16/bf16: {string.Join(",", CompressionPolicy.DefaultHalfKeepFloat)}). 'none' keeps nothing.",
            AllowMultipleArgumentsPerToken = true,
        };
        var keepAs = new Option<string>("--keep-float-as") { Description = "int8: dtype of the kept-float layers of rank >= 2: fp16 (default; half the bytes, no measurable quality cost) or fp32.", DefaultValueFactory = _ => "fp16" };
        var keepF32 = new Option<bool>("--kept-fp32") { Description = "Same as --keep-float-as fp32." };
        var cmd = new Command("compress", "Write an int8 or half-precision copy of a checkpoint that sam and SamModel.Load read like any other.") { path, to, output, keep, keepAs, keepF32 };
        cmd.SetAction(r =>
        {
            string file = CommonOptions.ExistingFile(r.GetValue(path)!, "checkpoint");
            CompressionScheme scheme;
            try { scheme = CompressionSchemes.Parse(r.GetValue(to)!); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            string outPath = r.GetValue(output)!;
            if (!outPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) throw new CliException("the output must be a .safetensors file");
            if (Path.GetFullPath(outPath) == Path.GetFullPath(file)) throw new CliException("the output would overwrite the input checkpoint");
            var policy = CompressionPolicy.Default(scheme);
            if (r.GetValue(keep) is { Length: > 0 } patterns)
            {
                var list = patterns.SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
                policy = new CompressionPolicy(list.Count == 1 && list[0] == "none" ? [] : list);
            }
            string keptDType = r.GetValue(keepAs)!.ToLowerInvariant();
            if (keptDType is not ("fp16" or "fp32")) throw new CliException($"--keep-float-as must be fp16 or fp32, not '{keptDType}'");
            if (r.GetValue(keepF32) || keptDType == "fp32") policy = policy with { KeptAsHalf = false };
            var report = CheckpointCompressor.Compress(file, outPath, scheme, policy);
            Console.WriteLine($"{report.Architecture}: {report.Scheme.Name()} -> {outPath}");
            Console.WriteLine($"  {report.ConvertedTensors} tensors ({report.ConvertedElements:N0} values) as {report.Scheme.Name()}, {report.FloatTensors} ({report.FloatElements:N0} values) kept {(scheme == CompressionScheme.Int8 && policy.KeptAsHalf ? "float (rank >= 2 as float16)" : "float32")}");
            Console.WriteLine($"  {report.SourceBytes:N0} -> {report.OutputBytes:N0} bytes ({report.Ratio:P1} of the source)");
            return 0;
        });
        return cmd;
    }
}
