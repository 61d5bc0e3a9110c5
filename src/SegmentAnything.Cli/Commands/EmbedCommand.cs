using System.CommandLine;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli.Commands;

/// <summary><c>sam embed IMAGE -o E.safetensors</c>: runs the image encoder once and saves the embedding.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "Input image (PNG, JPEG, ...)." };
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .safetensors file.", Required = true };
        var cmd = new Command("embed", "Compute an image embedding and save it for later prompts.") { image, checkpoint, model, output };
        cmd.SetAction(r =>
        {
            CommonOptions.CheckModelChoice(r, checkpoint, model);
            var img = ImageIO.Load(CommonOptions.ExistingFile(r.GetValue(image)!, "image"));
            var sam = CommonOptions.LoadModel(r, checkpoint, model);
            var predictor = new SamPredictor(sam);
            predictor.SetImage(img);
            string outPath = r.GetValue(output)!;
            if (Path.GetDirectoryName(Path.GetFullPath(outPath)) is string dir) Directory.CreateDirectory(dir);
            predictor.Embedding.Save(outPath);
            var e = predictor.Embedding.Embedding;
            Console.WriteLine($"wrote {outPath}: embedding [1, {string.Join(", ", e.Shape)}] of {sam.Architecture} for a {img.Width}x{img.Height} image");
            return 0;
        });
        return cmd;
    }
}
