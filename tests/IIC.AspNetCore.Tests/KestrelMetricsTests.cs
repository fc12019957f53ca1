using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Greeter;
using IIC.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// Kestrel's own metrics on an IICFast endpoint: the accept loop used to die with NotImplementedException from
/// <c>EndPoint.AddressFamily</c> as soon as anything listened to the <c>Microsoft.AspNetCore.Server.Kestrel</c> meter.
/// Here a MeterListener AND the OpenTelemetry ASP.NET Core instrumentation watch a gRPC server in this process while
/// the sample client (samples/Greeter.Client) calls it twice, each time from a new process.
/// </summary>
[Collection(KestrelMetricsAlone.Name)]
public sealed class KestrelMetricsTests
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Kestrel_metrics_and_OpenTelemetry_report_IICFast_connections_and_clients_keep_being_served()
    {
        var hypervisor = TestNames.Hypervisor("kmetrics");
        var directory = TestNames.SocketDirectory();
        const string Service = "greeter-metrics";
        var exported = new List<MetricSnapshot>(); // copies taken at each export (Metric objects are reused by the SDK)
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseIicTransport(o =>
            {
                o.HypervisorName = hypervisor;
                o.SocketDirectory = directory;
                o.PartitionName = "metrics-server";
                o.StartHypervisor = true;
            });
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint(Service), l => l.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddMeter(KestrelMeter)
                .AddInMemoryExporter(exported));
            await using var app = builder.Build();
            app.MapGrpcService<GreeterService>();

            // Kestrel's connection instruments, this host's only (Meter.Scope is the host's IMeterFactory).
            var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
            var meterFactory = app.Services.GetRequiredService<IMeterFactory>();
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == KestrelMeter && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, ToDictionary(tags))));
            listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, ToDictionary(tags))));
            listener.Start();

            await app.StartAsync();
            for (var client = 0; client < 2; client++)
            {
                // A new process each time: its connection is a new channel, accepted by the same (still living) accept loop.
                var (exitCode, output) = await RunGreeterClientAsync($"--Services:greeter=iic://{Service}", $"--Iic:HypervisorName={hypervisor}", $"--Iic:SocketDirectory={directory}");
                Assert.True(exitCode == 0, $"client {client} exited {exitCode}:\n{output}");
                Assert.Contains("unary:      Hello newcomer", output, StringComparison.Ordinal);
            }

            // Both connections opened and ended (the client processes are gone), each with IICFast's endpoint tags.
            WaitFor.Condition(() => measurements.Count(m => m.Instrument == "kestrel.connection.duration") >= 2, "two kestrel.connection.duration records", s_bound,
                () => string.Join("\n", measurements.Select(m => $"{m.Instrument} {m.Value}")));
            var opened = measurements.Where(m => m.Instrument == "kestrel.active_connections" && m.Value > 0).ToList();
            Assert.Equal(2, opened.Count);
            Assert.Equal(2, measurements.Count(m => m.Instrument == "kestrel.active_connections" && m.Value < 0));
            Assert.All(measurements.Where(m => m.Instrument.StartsWith("kestrel.", StringComparison.Ordinal)), m =>
            {
                Assert.Equal("Unix", m.Tags["network.transport"]);
                Assert.Equal($"iic://{Service}", m.Tags["server.address"]);
            });

            // The OpenTelemetry SDK exported the same Kestrel series and the ASP.NET Core request durations.
            Assert.True(app.Services.GetRequiredService<MeterProvider>().ForceFlush(30_000), "the OpenTelemetry meter provider did not flush");
            // Each export (periodic, then the flush) appends snapshots; temporality is cumulative, so the largest count is the
            // total. The SDK subscribes by meter name: other hosts in this process (parallel tests) add their own series.
            var ours = $"iic://{Service}";
            var connectionPoints = exported.Where(m => m.Name == "kestrel.connection.duration")
                .Select(m => m.MetricPoints.Where(p => (string?)Tag(p, "server.address") == ours).ToList()).ToList();
            Assert.Equal(2, connectionPoints.Max(points => points.Sum(p => p.GetHistogramCount())));
            Assert.All(connectionPoints.SelectMany(points => points), p => Assert.Equal("Unix", Tag(p, "network.transport")));
            var requests = exported.Where(m => m.Name == "http.server.request.duration").ToList();
            Assert.All(requests, m => Assert.Equal("s", m.Unit));
            Assert.True(requests.Max(m => m.MetricPoints.Sum(p => p.GetHistogramCount())) >= 2 * 1003, "each client makes at least 1003 calls");
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            result[tag.Key] = tag.Value;
        }
        return result;
    }

    private static object? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value;
            }
        }
        return null;
    }

    /// <summary>Runs <c>dotnet Greeter.Client.dll args</c> (built next to the tests), bounded; returns its exit code and output.</summary>
    private static async Task<(int ExitCode, string Output)> RunGreeterClientAsync(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Greeter.Client.dll");
        Assert.True(File.Exists(dll), $"The sample client is missing: {dll}");
        var info = new ProcessStartInfo(Dotnet.HostPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(s_bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"Greeter.Client did not exit within {s_bound.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>
/// Runs alone: the OpenTelemetry SDK subscribes to Kestrel's meter by name, so a second Kestrel host alive in this
/// process (another test class) would share the SDK's metric streams with the one under test.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KestrelMetricsAlone
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Kestrel metrics (not parallel)";
}
