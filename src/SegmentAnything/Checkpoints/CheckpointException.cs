namespace SegmentAnything.Checkpoints;

/// <summary>A checkpoint or tensor file is malformed, hostile or does not fit the model; the message says what and where.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}
