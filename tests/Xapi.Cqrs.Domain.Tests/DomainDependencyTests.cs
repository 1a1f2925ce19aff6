using System.Xml.Linq;
using Shouldly;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Domain.Tests;

/// <summary>The domain is plain C# on the BCL: no event store, no mediator, no web framework.</summary>
public sealed class DomainDependencyTests
{
    private static bool IsBcl(string name) =>
        name.StartsWith("System", StringComparison.Ordinal) || name is "netstandard" or "mscorlib";

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Xapi.Cqrs.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Xapi.Cqrs.sln above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void Domain_assembly_references_only_the_bcl()
    {
        var references = typeof(XapiException).Assembly.GetReferencedAssemblies().Select(a => a.Name ?? "").ToList();

        references.ShouldNotBeEmpty();
        references.Where(n => !IsBcl(n)).ShouldBeEmpty("the domain must reference nothing outside the BCL");
    }

    [Fact]
    public void Domain_project_has_no_package_or_project_references()
    {
        var path = Path.Combine(RepositoryRoot(), "src", "Xapi.Cqrs.Domain", "Xapi.Cqrs.Domain.csproj");
        File.Exists(path).ShouldBeTrue(path);
        var text = File.ReadAllText(path);

        text.ShouldNotContain("PackageReference");
        var project = XDocument.Parse(text);
        project.Descendants().Where(e => e.Name.LocalName is "PackageReference" or "ProjectReference" or "Reference").ShouldBeEmpty();
    }

    [Theory]
    [InlineData("System.Runtime", true)]
    [InlineData("System.Collections.Immutable", true)]
    [InlineData("netstandard", true)]
    [InlineData("Marten", false)]
    [InlineData("MediatR", false)]
    [InlineData("Xapi.Cqrs.Application", false)]
    public void Bcl_rule_tells_framework_from_other_assemblies(string name, bool bcl) => IsBcl(name).ShouldBe(bcl);
}
