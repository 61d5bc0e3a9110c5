using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>An image encoder: a normalised, padded image [3, S, S] to an embedding [C, h, w].</summary>
public interface IImageEncoder
{
    /// <summary>The square input side S the encoder expects (1024 for the official models).</summary>
    int ImageSize { get; }

    /// <summary>Embedding channels and grid side (256 and 64 for the official models).</summary>
    int EmbeddingChannels { get; }
    int EmbeddingSize { get; }

    Tensor Forward(Tensor image, ActivationRecorder? recorder = null);
}
