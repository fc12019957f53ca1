// The greeter server. `dotnet run --project samples/Greeter.Server` starts an embedded hypervisor named "iicfast"
// and serves the greeter over IICFast (iic://greeter) and over TCP (http://127.0.0.1:5000) side by side.
// Everything is configuration (command line, environment IIC_..., or defaults below), for example:
//   --Iic:StartHypervisor=false        attach to a running `iic hypervisor --name iicfast` instead
//   --Listen:1=http://0.0.0.0:5000     accept remote clients over TCP too
using Greeter;
using IIC.AspNetCore;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
{
    InitialData = new Dictionary<string, string?>
    {
        ["Iic:HypervisorName"] = "iicfast",
        ["Iic:PartitionName"] = "greeter-server",
        ["Iic:StartHypervisor"] = "true",
        ["Listen:0"] = "iic://greeter",
        ["Listen:1"] = "http://127.0.0.1:5000",
        ["Logging:LogLevel:Default"] = "Warning",
    },
});

builder.WebHost.UseIicTransport(o => o.ReadFrom(builder.Configuration.GetSection("Iic")));
builder.WebHost.ConfigureKestrel(k => k.ListenAddresses(builder.Configuration.GetSection("Listen")));
builder.Services.AddGrpc();

var app = builder.Build();
app.MapGrpcService<GreeterService>();
app.MapGet("/", () => "The greeter speaks gRPC: run samples/Greeter.Client.");

await app.StartAsync();
foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
{
    Console.WriteLine($"listening {address}");
}
Console.WriteLine("ready (Ctrl+C stops)");
await app.WaitForShutdownAsync();
