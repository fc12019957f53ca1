using System.Net;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Google.Protobuf;
using Greeter;
using Grpc.Net.Client;
using IIC.Grpc;
using IIC.Grpc.Server;
using IIC.Hardware;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IIC.GrpcPerf;

/// <summary>
/// Bytes allocated per unary call (32 B payload), native IICFast path vs grpc-dotnet over HTTP/2 (TCP loopback), with
/// BenchmarkDotNet's MemoryDiagnoser. Client and server run in this one process (the in-process toolchain), so the
/// numbers are both sides of a call together, for both paths alike.
/// </summary>
[MemoryDiagnoser]
public class UnaryAllocationBenchmarks
{
    private readonly HelloRequest _request = new() { Name = "perf", Payload = ByteString.CopyFrom(new byte[32]) };
    private Hypervisor? _hypervisor;
    private WebApplication? _app;
    private GrpcServiceChannel? _native;
    private GrpcChannel? _http;
    private Greeter.Greeter.GreeterClient? _nativeClient;
    private Greeter.Greeter.GreeterClient? _httpClient;
    private string? _directory;

    public static IConfig Config(bool smoke) => DefaultConfig.Instance.AddJob(
        (smoke ? Job.Dry.WithIterationCount(3) : Job.ShortRun).WithToolchain(InProcessEmitToolchain.Instance));

    [GlobalSetup]
    public void Setup()
    {
        var name = $"grpcalloc-{Environment.ProcessId}";
        _directory = Directory.CreateTempSubdirectory("iic-grpcalloc-").FullName;
        _hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = _directory });
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddIicGrpcServer(o =>
        {
            o.ServiceName = "greeter-alloc";
            o.Transport.HypervisorName = name;
            o.Transport.SocketDirectory = _directory;
        }).AddService<GreeterService>();
        _app = builder.Build();
        _app.MapGrpcService<GreeterService>();
        _app.StartAsync().GetAwaiter().GetResult();
        _native = GrpcServiceChannel.ForAddress("iic://greeter-alloc", new GrpcServiceChannelOptions { Native = { Transport = { HypervisorName = name, SocketDirectory = _directory } } });
        _nativeClient = new Greeter.Greeter.GreeterClient(_native.CallInvoker);
        _http = GrpcChannel.ForAddress(_app.Urls.First());
        _httpClient = new Greeter.Greeter.GreeterClient(_http);
    }

    [Benchmark(Baseline = true)]
    public Task<HelloReply> Http2TcpUnary() => _httpClient!.SayHelloAsync(_request).ResponseAsync;

    [Benchmark]
    public Task<HelloReply> NativeIicUnary() => _nativeClient!.SayHelloAsync(_request).ResponseAsync;

    [GlobalCleanup]
    public void Cleanup()
    {
        _native?.Dispose();
        _http?.Dispose();
        _app?.StopAsync().GetAwaiter().GetResult();
        _hypervisor?.Dispose();
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
