namespace SegmentAnything.Checkpoints;

/// <summary>Validation of a strided tensor view against the storage it reads, with overflow-safe arithmetic.</summary>
internal static class TensorLimits
{
    public const int MaxRank = 32;

    /// <summary>
    /// Null when a view of <paramref name="shape"/>/<paramref name="strides"/> starting at element
    /// <paramref name="offset"/> fits in <paramref name="storageElements"/>; otherwise what is wrong.
    /// </summary>
    public static string? CheckView(long[] shape, long[] strides, long offset, long storageElements)
    {
        long count = 1;
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] < 0) return $"has negative dimension {shape[d]} in size [{string.Join(", ", shape)}]";
            if (shape[d] > int.MaxValue) return $"has absurd dimension {shape[d]} in size [{string.Join(", ", shape)}]";
            if (strides[d] < 0) return $"has negative stride {strides[d]} in stride [{string.Join(", ", strides)}]";
            if (count != 0) count = shape[d] == 0 ? 0 : (count > Array.MaxLength / shape[d] ? -1 : count * shape[d]);
            if (count < 0) return $"size [{string.Join(", ", shape)}] has more elements than an array can hold";
        }
        if (offset < 0) return $"has negative storage offset {offset}";
        if (count == 0) return offset <= storageElements ? null : $"storage offset {offset} lies beyond the storage's {storageElements} elements";
        // Highest element read = offset + sum (dim - 1) * stride; Int128 cannot overflow for rank <= 32.
        Int128 last = offset;
        for (int d = 0; d < shape.Length; d++) last += (Int128)(shape[d] - 1) * strides[d];
        if (last >= storageElements)
            return $"with size [{string.Join(", ", shape)}], stride [{string.Join(", ", strides)}] and offset {offset} reads element {last} but the storage holds {storageElements}";
        return null;
    }
}
