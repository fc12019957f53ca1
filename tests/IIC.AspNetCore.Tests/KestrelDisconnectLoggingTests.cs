using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// A client that goes away in the middle of a response is routine: Kestrel's socket transport completes the transport's
/// output without an error when the connection is reset or closed, so Kestrel's flush returns IsCompleted, the request
/// is aborted (RequestAborted) and nothing is logged as an error. Over IICFast the flush threw the translated
/// ConnectionResetException, which Kestrel's TimingPipeFlusher logs at Error level ("Unexpected exception in
/// TimingPipeFlusher.TimeFlushAsync"): one error per client disconnect.
/// </summary>
public sealed class KestrelDisconnectLoggingTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task A_client_closing_its_connection_mid_response_aborts_the_request_and_Kestrel_logs_no_error(string version)
    {
        var hypervisor = TestNames.Hypervisor("disc");
        var directory = TestNames.SocketDirectory();
        using var capture = new LogCapture();
        var entries = capture.Entries;
        var requestEnded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(capture);
            builder.WebHost.UseIicTransport(o =>
            {
                o.HypervisorName = hypervisor;
                o.SocketDirectory = directory;
                o.PartitionName = "disc";
                o.StartHypervisor = true;
            });
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("disc"), l => l.Protocols = version == "1.1" ? HttpProtocols.Http1 : HttpProtocols.Http2));
            await using var app = builder.Build();
            app.MapGet("/stream", async (HttpContext context) =>
            {
                // Streams until the client is gone: each write's flush waits for room once the client stops reading.
                var chunk = new byte[16 * 1024];
                try
                {
                    while (!context.RequestAborted.IsCancellationRequested)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                    requestEnded.TrySetResult("RequestAborted");
                }
                catch (OperationCanceledException)
                {
                    requestEnded.TrySetResult("RequestAborted");
                }
                catch (Exception e)
                {
                    requestEnded.TrySetResult(e.GetType().Name + ": " + e.Message);
                }
            });
            await app.StartAsync();

            var client = IicHttpHandler.CreateClient("disc", new IicTransportOptions { HypervisorName = hypervisor, SocketDirectory = directory });
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/stream", UriKind.Relative)) { Version = Version.Parse(version), VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await using var body = await response.Content.ReadAsStreamAsync();
                var buffer = new byte[64 * 1024];
                long read = 0;
                while (read < 256 * 1024)
                {
                    var n = await body.ReadAsync(buffer).AsTask().WaitAsync(s_timeout);
                    Assert.NotEqual(0, n);
                    read += n;
                }
            }
            finally
            {
                client.Dispose(); // closes the connection, and with it the channel, mid-response
            }

            Assert.Equal("RequestAborted", await requestEnded.Task.WaitAsync(s_timeout));
            await app.StopAsync();
            var errors = entries.Where(e => e.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) && e.Level >= LogLevel.Error).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Category} {e.Level}: {e.Message} {e.Exception}")));
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }
}
