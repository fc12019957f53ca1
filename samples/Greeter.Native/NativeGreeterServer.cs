using Greeter;
using IIC.Grpc.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;

/// <summary>
/// Serves the stock GreeterService twice from one host: natively over IICFast (IIC.Grpc's hosted server, no Kestrel
/// involved) and through Kestrel over HTTP/2 on TCP for other machines. The service class does not know which.
/// </summary>
internal static class NativeGreeterServer
{
    public static async Task<int> RunAsync(IConfiguration configuration)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls(configuration["Listen"]!);
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddIicGrpcServer(o =>
        {
            o.ServiceName = "greeter";
            o.Transport.ReadFrom(configuration.GetSection("Iic"));
            o.Transport.StartHypervisor = true;
            o.Transport.PartitionName = "greeter-native-server";
        }).AddService<GreeterService>();

        var app = builder.Build();
        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        Console.WriteLine($"listening iic://greeter (hypervisor {configuration["Iic:HypervisorName"]}) and {configuration["Listen"]}");
        Console.WriteLine("ready (Ctrl+C stops)");
        await app.WaitForShutdownAsync();
        return 0;
    }
}
