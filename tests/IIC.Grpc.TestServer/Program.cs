// The test server: Tester over the native IICFast path (service NAME on the given hypervisor) and over HTTP/2 on a TCP
// loopback port. Args: HYPERVISOR SOCKET_DIRECTORY SERVICE [inline-handlers [stateless]]. Prints "listening ADDRESS" for each, then "ready".
// "max-calls=N" anywhere after SERVICE sets IicGrpcServerOptions.MaxConcurrentCallsPerConnection (LimitModes.cs).
// "telemetry" listens to IIC.Grpc's traces and metrics in this process (TelemetryModes.cs).
// "shutdown-timeout-ms=N" sets the host's ShutdownTimeout, the bound of the native server's graceful stop (ShutdownModes.cs).
// "max-metadata=N" sets IicGrpcServerOptions.MaxMetadataSize (FrameModes.cs).
// "stateless" serves StatelessTesterService natively instead of TesterService (unary only; no DI scope per call).
using System.Net;
using IIC.Grpc.Server;
using IIC.Grpc.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

const int MaxMessage = 16 * 1024 * 1024;
var (hypervisor, directory, service) = (args[0], args[1], args[2]);
var inlineHandlers = args.Length > 3 && args[3] == "inline-handlers"; // native handlers on the reader thread (IicGrpcServerOptions.RunHandlersInline)
var stateless = args.Length > 4 && args[4] == "stateless";
TelemetryModes.Enable(args);
var builder = WebApplication.CreateBuilder([]);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
builder.Services.AddScoped<CallScope>();
if (ShutdownModes.ShutdownTimeoutArgument(args) is { } shutdownTimeout)
{
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout);
}
builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = MaxMessage);
var native = builder.Services.AddIicGrpcServer(o =>
{
    o.ServiceName = service;
    o.Transport.HypervisorName = hypervisor;
    o.Transport.SocketDirectory = directory;
    o.Transport.PartitionName = $"tester-{Environment.ProcessId}";
    o.MaxReceiveMessageSize = MaxMessage;
    o.RunHandlersInline = inlineHandlers;
    o.ResponseStallTimeout = StallModes.StallTimeoutArgument(args) ?? o.ResponseStallTimeout; // "stall-timeout-ms=N" (StallModes.cs)
    o.MaxMetadataSize = FrameModes.MaxMetadataArgument(args) ?? o.MaxMetadataSize; // "max-metadata=N" (FrameModes.cs)
    if (LimitModes.MaxCallsArgument(args) is { } maxCalls)
    {
        o.MaxConcurrentCallsPerConnection = maxCalls;
    }
});
if (stateless)
{
    native.AddService<StatelessTesterService>();
}
else
{
    native.AddService<TesterService>();
}

var app = builder.Build();
app.MapGrpcService<TesterService>();
await app.StartAsync();
foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
{
    Console.WriteLine($"listening {address}");
}
Console.WriteLine($"listening iic://{service}");
Console.WriteLine("ready");
await app.WaitForShutdownAsync();
