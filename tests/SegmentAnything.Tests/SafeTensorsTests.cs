using SegmentAnything.Checkpoints;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests;

public class SafeTensorsTests
{
    [SkippableFact]
    public void ReadsFixtureReference()
    {
        var f = Fixtures.Reference("sam_vit_mini_random");
        var emb = f["embedding"];
        Assert.Equal(new[] { 1, 256, 64, 64 }, emb.Shape);
        Assert.Equal(DType.Float32, emb.DType);
        Assert.Equal(new long[] { 534, 800 }, f["image_hw"].Integers);
    }

    [Fact]
    public void RoundTripsTensorsAndMetadata()
    {
        string path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            var tensors = new Dictionary<string, CheckpointTensor>
            {
                ["a"] = CheckpointTensor.FromFloats([1f, -2.5f, 3f, 4f, 5f, 6f], 2, 3),
                ["b"] = CheckpointTensor.FromInt64([7, -8], 2),
            };
            SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["arch"] = "x" });
            var back = SafeTensors.Read(path);
            Assert.Equal(tensors["a"].Floats, back["a"].Floats);
            Assert.Equal(new[] { 2, 3 }, back["a"].Shape);
            Assert.Equal(new long[] { 7, -8 }, back["b"].Integers);
            Assert.Equal("x", back.Metadata["arch"]);
        }
        finally { File.Delete(path); }
    }
}
