namespace SegmentAnything.Server;

/// <summary>A refused request: answered with <see cref="Status"/> and the message as <c>{"error": ...}</c>.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ApiException NotFound(string message) => new(404, message);
    public static ApiException BadRequest(string message) => new(400, message);
    public static ApiException Forbidden(string message) => new(403, message);
}
