namespace SegmentAnything.Tensors;

/// <summary>
/// A dense, row-major float32 tensor. Deliberately minimal: the model code works on spans of
/// <see cref="Data"/> and the kernels, so the tensor only carries a buffer and its shape.
/// </summary>
public sealed class Tensor
{
    public float[] Data { get; }
    public int[] Shape { get; }

    public Tensor(params int[] shape) : this(new float[CheckedLength(shape)], shape) { }

    public Tensor(float[] data, params int[] shape)
    {
        long length = CheckedLength(shape);
        if (data.Length != length)
            throw new ArgumentException($"Buffer of {data.Length} floats does not match shape [{string.Join(", ", shape)}].");
        Data = data;
        Shape = (int[])shape.Clone();
    }

    public int Rank => Shape.Length;
    public int Length => Data.Length;
    public Span<float> Span => Data;

    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    /// <summary>A view with another shape over the same buffer.</summary>
    public Tensor Reshape(params int[] shape) => new(Data, shape);

    public Tensor Clone() => new((float[])Data.Clone(), Shape);

    public override string ToString() => $"Tensor[{string.Join(", ", Shape)}]";

    public static int CheckedLength(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException("Negative tensor dimension.");
            n *= d;
            if (n > Array.MaxLength) throw new ArgumentException("Tensor too large.");
        }
        return (int)n;
    }
}
