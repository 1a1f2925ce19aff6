using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xapi.Cqrs.Application.Hosts;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.HostAgent.Agents;
using Xapi.Cqrs.HostAgent.Hypervisor;

// One host's agent as its own process, the shape a real host runs:
//   dotnet run --project src/Xapi.Cqrs.HostAgent -c Release -- --Xapi:HostId=<id>
// with the service's ConnectionStrings:EventStore, Xapi:Schema and Xapi:DataDir (where the simulated hypervisor keeps its state).
var builder = Host.CreateApplicationBuilder(args);
var config = builder.Configuration;
var connectionString = config.GetConnectionString("EventStore");
if (string.IsNullOrWhiteSpace(connectionString))
{
    Console.Error.WriteLine("ConnectionStrings:EventStore is not set: pass --ConnectionStrings:EventStore=\"Host=…;Database=…;Username=…\", the service's.");
    return 2;
}

if (!Guid.TryParse(config["Xapi:HostId"], out var hostId))
{
    Console.Error.WriteLine("Xapi:HostId is not set: pass --Xapi:HostId=<the host's id>, as POST /api/hosts answered it.");
    return 2;
}

var dataDir = config["Xapi:DataDir"] ?? ".data";
builder.Services.AddSingleton(SimulatorSettings.UnderDataDir(dataDir));
builder.Services.AddSingleton(Xapi.Cqrs.HostAgent.Hypervisor.Qemu.QemuSettings.UnderDataDir(dataDir));
builder.Services.AddSingleton(new Xapi.Cqrs.Application.Hosts.HostDefaults(config["Xapi:Hypervisor"] ?? "simulated"));
var marten = builder.Services.AddXapiAgentStore(new StoreSettings(connectionString, config["Xapi:Schema"] ?? "xapi"),
    new NodeIdentity(config["Xapi:NodeName"] ?? $"{Environment.MachineName}:agent-{hostId}"));
var deadlines = Xapi.Cqrs.Application.Admin.OperationDeadlines.From(config);
builder.Services.AddSingleton(deadlines);
builder.Services.AddSingleton(LivenessSettings.From(config));
builder.Services.AddHostAgents(marten, AgentSettings.From(config, deadlines) with { OnlyHost = hostId });
builder.Services.AddHostedService<Heartbeat>();
builder.Services.AddXapiApplication(background: false);
await builder.Build().RunAsync();
return 0;
