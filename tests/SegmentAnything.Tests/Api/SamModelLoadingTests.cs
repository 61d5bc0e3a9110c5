using SegmentAnything.Checkpoints;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Api;

/// <summary>Architecture detection and the single, complete error for checkpoints that do not fit.</summary>
public class SamModelLoadingTests
{
    [SkippableTheory]
    [InlineData("sam_vit_mini_random", ModelFamily.SamViT, "sam_vit(img=1024,patch=16,dim=64,depth=4,heads=2,window=14,global=[1,3],")]
    [InlineData("sam_vit_shapes", ModelFamily.SamViT, "sam_vit(img=256,patch=16,dim=96,depth=3,heads=3,window=8,global=[2],")]
    [InlineData("mobile_sam_random", ModelFamily.MobileSam, "mobile_sam")]
    [InlineData("efficient_sam_vitt_random", ModelFamily.EfficientSam, "efficient_sam_vitt")]
    public void DetectsTheArchitecture(string name, ModelFamily family, string architecturePrefix)
    {
        var model = SamModel.Load(Fixtures.Path_($"models/{name}.pt"));
        Assert.Equal(family, model.Family);
        Assert.StartsWith(architecturePrefix, model.Architecture);
    }

    [SkippableFact]
    public void ShapesModelHasItsOwnInputAndDecoderWidth()
    {
        var model = SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt"));
        Assert.Equal(256, model.ImageEncoder.ImageSize);
        Assert.Equal(16, model.ImageEncoder.EmbeddingSize);
        Assert.Equal(128, model.Sam!.PromptEncoder.EmbedDim);
        Assert.Equal(128, model.Sam.MaskDecoder.Dim);
    }

    [SkippableFact]
    public void MissingUnexpectedAndMisShapedKeysAreNamedInOneError()
    {
        var dict = CheckpointReader.Load(Fixtures.Path_("models/sam_vit_mini_random.pt"));
        var tensors = new Dictionary<string, CheckpointTensor>(dict.Tensors);
        tensors.Remove("mask_decoder.iou_token.weight");
        tensors.Remove("image_encoder.blocks.2.norm1.bias");
        tensors["image_encoder.blocks.0.mlp.lin2.bias"] = CheckpointTensor.FromFloats(new float[7], 7);
        tensors["extra.weight"] = CheckpointTensor.FromFloats(new float[3], 3);
        var e = Assert.Throws<CheckpointException>(() => SamModel.FromStateDict(new StateDict(tensors, "edited.pt")));
        Assert.Contains("image_encoder.blocks.2.norm1.bias", e.Message);
        Assert.Contains("image_encoder.blocks.0.mlp.lin2.bias: expected [64], found [7]", e.Message);
        Assert.Contains("extra.weight", e.Message);
        Assert.Contains("edited.pt", e.Message);
    }

    [SkippableFact]
    public void UnrecognisedStateDictIsRefused()
    {
        var dict = new StateDict(new() { ["fc.weight"] = CheckpointTensor.FromFloats(new float[4], 2, 2) }, "other.pt");
        var e = Assert.Throws<CheckpointException>(() => SamModel.FromStateDict(dict));
        Assert.Contains("not a recognised", e.Message);
    }

    [SkippableFact]
    public void SafetensorsCheckpointLoadsToTheSameModel()
    {
        var dict = CheckpointReader.Load(Fixtures.Path_("models/sam_vit_shapes.pt"));
        string path = Path.Combine(Path.GetTempPath(), $"shapes-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Write(path, dict.Tensors);
            var a = SamModel.FromStateDict(dict);
            var b = SamModel.Load(path);
            Assert.Equal(a.Architecture, b.Architecture);
            var emb = Fixtures.Reference("sam_vit_shapes")["embedding"];
            var embedding = new ImageEmbedding(new Tensors.Tensor(emb.Floats, emb.Shape[1..]), (360, 480), (192, 256), null);
            var pa = new SamPredictor(a); pa.SetEmbedding(embedding);
            var pb = new SamPredictor(b); pb.SetEmbedding(embedding);
            var prompt = Prompt.FromPoint(135, 150);
            Assert.Equal(pa.Predict(prompt).LowResLogits, pb.Predict(prompt).LowResLogits);
        }
        finally { File.Delete(path); }
    }
}
