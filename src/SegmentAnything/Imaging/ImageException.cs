namespace SegmentAnything.Imaging;

/// <summary>An image that cannot be read or written: missing, unreadable, corrupt, unsupported or too large.</summary>
public sealed class ImageException : Exception
{
    public ImageException(string message) : base(message) { }
    public ImageException(string message, Exception inner) : base(message, inner) { }
}
