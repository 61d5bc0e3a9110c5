using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SegmentAnything.Imaging;
using SegmentAnything.Server.Annotation;
using SegmentAnything.Server.Api;

namespace SegmentAnything.Server;

/// <summary>The annotation app: Kestrel on 127.0.0.1 only, the JSON API under /api and the page at /.</summary>
public sealed class AnnotationServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    public AnnotationSession Session { get; }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:8765/</c>, once started.</summary>
    public string Url { get; private set; } = "";

    private AnnotationServer(WebApplication app, AnnotationSession session) => (_app, Session) = (app, session);

    public static AnnotationServer Create(SamModel model, string modelName, ServerOptions options)
    {
        var session = new AnnotationSession(model, modelName, options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, options.Port);
            k.Limits.MaxRequestBodySize = options.MaxUploadBytes;
        });
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase);
        var app = builder.Build();
        app.Use(ErrorHandling);
        Endpoints.Map(app, session);
        StaticPage.Map(app);
        return new AnnotationServer(app, session);
    }

    public async Task StartAsync(CancellationToken ct = default)
    {
        await _app.StartAsync(ct);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = address.TrimEnd('/') + "/";
    }

    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Every refusal becomes a status code with <c>{"error": "..."}</c>; nothing leaks a stack trace.</summary>
    private static async Task ErrorHandling(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (StatusOf(e) is int status && !context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = status;
            await context.Response.WriteAsJsonAsync(new { error = Message(e) });
        }
    }

    private static int? StatusOf(Exception e) => e switch
    {
        ApiException a => a.Status,
        BadHttpRequestException b => b.StatusCode,
        JsonException => 400,
        ImageException => 415,
        KeyNotFoundException => 404,
        ArgumentException or FormatException or InvalidOperationException => 400,
        OperationCanceledException => null,
        _ => 500,
    };

    private static string Message(Exception e) => e switch
    {
        JsonException j => $"Malformed JSON: {j.Message}",
        BadHttpRequestException { StatusCode: 413 } => "The request body is larger than the server accepts.",
        _ when StatusOf(e) == 500 => $"Internal error ({e.GetType().Name}).",
        _ => e.Message,
    };
}
