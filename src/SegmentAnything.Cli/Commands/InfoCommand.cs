using System.CommandLine;
using SegmentAnything.Checkpoints;

namespace SegmentAnything.Cli.Commands;

/// <summary><c>sam info CHECKPOINT</c>: architecture, parameter counts per component, storage dtypes.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("checkpoint") { Description = "Checkpoint file (.pt/.pth or .safetensors)." };
        var cmd = new Command("info", "Show a checkpoint's architecture, parameter counts and storage dtypes.") { path };
        cmd.SetAction(r =>
        {
            string file = CommonOptions.ExistingFile(r.GetValue(path)!, "checkpoint");
            var dict = CheckpointReader.Open(file);
            var model = SamModel.FromStateDict(dict);
            Console.WriteLine($"file:          {file}");
            Console.WriteLine($"family:        {model.Family}");
            Console.WriteLine($"architecture:  {model.Architecture}");
            Console.WriteLine($"input size:    {model.ImageEncoder.ImageSize}x{model.ImageEncoder.ImageSize}, embedding {model.ImageEncoder.EmbeddingChannels}x{model.ImageEncoder.EmbeddingSize}x{model.ImageEncoder.EmbeddingSize}");
            Console.WriteLine($"parameters:    {model.ParameterCount:N0}");
            foreach (var group in dict.Tensors.Where(t => t.Value.DType.IsFloating()).GroupBy(t => t.Key.Split('.')[0]).OrderBy(g => g.Key))
                Console.WriteLine($"  {group.Key + ":",-22} {group.Sum(t => t.Value.ElementCount),14:N0}");
            Console.WriteLine($"tensors:       {dict.Tensors.Count}");
            foreach (var (dtype, count) in model.StorageDTypes.OrderBy(kv => kv.Key))
                Console.WriteLine($"  {dtype.ToString().ToLowerInvariant() + ":",-22} {count,14:N0} elements");
            InfoCompression.Print(file);
            return 0;
        });
        return cmd;
    }
}
